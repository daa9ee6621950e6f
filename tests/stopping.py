"""Stopping a `fupin serve` process in a test: SIGTERM, then its exit code. When it does not
exit in time, the failure carries a py-spy dump of its threads (and its solver processes'), so
a rare hang seen once in CI can be read rather than guessed at."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


def stop(process: subprocess.Popen, timeout_s: float = 30.0) -> int:
    """Send SIGTERM and return the exit code; fail with the process's stacks on a hang."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stacks = dump_stacks(process.pid)
        raise AssertionError(
            f"fupin serve (pid {process.pid}) did not exit {timeout_s:g} s after SIGTERM; "
            f"its stacks:\n{stacks}"
        ) from None


def dump_stacks(pid: int) -> str:
    """py-spy's dump of pid and its children, or why there is none."""
    py_spy = Path(sys.executable).with_name("py-spy")
    try:
        done = subprocess.run(
            [str(py_spy), "dump", "--subprocesses", "--pid", str(pid)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"(no dump: {error})"
    return done.stdout + done.stderr
