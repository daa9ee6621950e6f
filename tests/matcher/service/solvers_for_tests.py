"""Tiny solve functions for the executor tests (module level: worker processes import them)."""

from __future__ import annotations

import os
import time
from typing import Any

from matcher.solvers.common.solving import SolveParams


def niceness(problem: Any, params: SolveParams) -> int:
    """The solver process's own niceness."""
    return os.nice(0)


def echo(problem: Any, params: SolveParams) -> dict[str, Any]:
    """Report three improving solutions, then return the problem and the worker's pid."""
    for i in range(3):
        if params.progress is not None:
            params.progress(float(i), 10.0, 0.01 * i)
    return {"problem": problem, "pid": os.getpid()}


def busy(seconds: float, params: SolveParams) -> tuple[float, float, int]:
    """Spin the CPU (holding this process's GIL) and return the (start, end, pid) interval."""
    start = time.time()
    while time.time() - start < seconds:
        pass
    return start, time.time(), os.getpid()


def thread_faults(mb: int, params: SolveParams) -> list[int]:
    """Page faults of allocating and touching ``mb`` MiB on a new thread, twice over (each
    thread frees its block before the next starts)."""
    import resource
    import threading

    import numpy as np

    faults = []
    for _ in range(2):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = threading.Thread(target=lambda: np.ones(mb << 20, np.uint8).sum())
        block.start()
        block.join()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return faults


def raises(problem: Any, params: SolveParams) -> None:
    raise ValueError("capacity must be positive")


def dies(problem: Any, params: SolveParams) -> None:
    os._exit(3)
