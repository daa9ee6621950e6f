"""How fast this machine runs plain Python just now: a reference beside each figure.

The VMs these benchmarks run on differ by a factor of two and drift within minutes (7 December
2026: the bare sparse flow took 2.9-4.3 s before 07:30 and 2.2-2.5 s after 08:00 on one VM;
the registry's import of the same code gave 31,551 rows/s on the VM before and 13,000-22,800
on that one). A line's ``python_ref_s`` is the best of five timings of a fixed loop of
2,000,000 integer additions, taken as the line is written: lines whose references differ
compare as ratios, not as seconds or rows per second.
"""

from __future__ import annotations

import subprocess
import sys

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
