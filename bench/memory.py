"""Peak resident memory and CPU time of a process tree, read from /proc (Linux), and how
fast the machine runs plain Python just now (python_ref_s)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def descendants(pid: int) -> list[int]:
    found, todo = [], children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children(child)
    return found


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_MB
    except (OSError, IndexError, ValueError):
        return 0.0


TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """CPU seconds a process and its reaped children have used (user + system)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return sum(int(f) for f in fields[11:15]) * TICK_S  # utime, stime, cutime, cstime


def tree_cpu_s(root: int | None = None) -> float:
    """CPU seconds used so far by every descendant of `root` (not root itself)."""
    return sum(cpu_s(p) for p in descendants(root or os.getpid()))


class TreeMemory:
    """Samples the summed RSS of every descendant of `root` (not root itself) until exit."""

    def __init__(self, root: int | None = None, interval_s: float = 0.05) -> None:
        self.root = root or os.getpid()
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, sum(rss_mb(p) for p in descendants(self.root)))
            self._stop.wait(self.interval_s)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# How fast this machine runs plain Python just now (python_ref_s): a reference beside each
# figure.
#
# The VMs these benchmarks run on differ by a factor of two and drift within minutes (7 December
# 2026: the bare sparse flow took 2.9-4.3 s before 07:30 and 2.2-2.5 s after 08:00 on one VM;
# the registry's import of the same code gave 31,551 rows/s on the VM before and 13,000-22,800
# on that one). A line's ``python_ref_s`` is the best of five timings of a fixed loop of
# 2,000,000 integer additions, taken as the line is written: lines whose references differ
# compare as ratios, not as seconds or rows per second.
REFERENCE_ADDS = 2_000_000
_LOOP = f"""
import time


def loop():
    total = 0
    for i in range({REFERENCE_ADDS}):
        total += i


best = float("inf")
for _ in range(5):
    started = time.perf_counter()
    loop()
    best = min(best, time.perf_counter() - started)
print(best)
"""


def python_ref_s() -> float:
    """Seconds of REFERENCE_ADDS integer additions in a Python loop, best of five, in a fresh
    interpreter: a benchmark's own process has gRPC's threads beside it (the same loop there
    took 0.13-0.21 s against 0.07-0.09 s alone)."""
    done = subprocess.run(
        [sys.executable, "-c", _LOOP], capture_output=True, text=True, check=True, timeout=120
    )
    return round(float(done.stdout), 4)
