"""What every optimisation model shares: solve parameters, status, timings and bound/gap.

Solver modules take plain frozen dataclasses and return plain results; nothing here imports
grpc or sqlmodel. Each model module exposes ``solve(problem, params) -> result``.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace


class SolveStatus(enum.Enum):
    """Outcome of a solve, as every result reports it."""

    OPTIMAL = "OPTIMAL"
    FEASIBLE = "FEASIBLE"  # a solution, not proven optimal (time ran out or gap limit reached)
    INFEASIBLE = "INFEASIBLE"
    MODEL_INVALID = "MODEL_INVALID"
    UNKNOWN = "UNKNOWN"  # no solution found within the limits
    CANCELLED = "CANCELLED"


class Objective(enum.Enum):
    """Produce objectives; aid and cadre models define their own where they differ."""

    WELFARE = "WELFARE"
    POVERTY_FIRST = "POVERTY_FIRST"


MIN_TIME_LIMIT_S = 0.05  # even a late solve gets this long, to return at least its hint

# Called with (objective, bound, elapsed_s) whenever a solver finds a better solution.
ProgressCallback = Callable[[float, float, float], None]


@dataclass(frozen=True)
class SolveParams:
    """Limits and knobs for one solve.

    ``reproducible`` fixes the seed and uses one worker so identical input gives identical
    output; otherwise CP-SAT uses ``workers`` threads.
    """

    time_limit_s: float = 30.0
    seed: int = 0
    workers: int = 2
    reproducible: bool = False
    relative_gap: float = 0.0  # stop early once (bound - objective) / |bound| <= this
    progress: ProgressCallback | None = field(default=None, compare=False)
    # Wall-clock time (time.time()) by which the answer is due, e.g. a caller's deadline; the
    # solve's limit shrinks to fit when it starts later than planned (a queue, a cold start).
    deadline_unix: float | None = None
    # Set by started_now() on reproducible solves: the deadline as a wall-clock cap, apart from
    # time_limit_s, which they spend as deterministic time (so results repeat).
    wall_limit_s: float | None = None

    def __post_init__(self) -> None:
        if not (self.time_limit_s > 0 and math.isfinite(self.time_limit_s)):
            raise ValueError("time_limit_s must be a positive finite number of seconds")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.relative_gap < 0:
            raise ValueError("relative_gap must be non-negative")

    @property
    def effective_workers(self) -> int:
        return 1 if self.reproducible else self.workers

    def started_now(self) -> SolveParams:
        """These params with the time limit cut to what is left before the deadline (for a
        reproducible solve, the wall-clock cap: its limit is deterministic time)."""
        if self.deadline_unix is None:
            return self
        left = max(MIN_TIME_LIMIT_S, self.deadline_unix - time.time())
        if self.reproducible:
            return replace(self, wall_limit_s=left, deadline_unix=None)
        return replace(self, time_limit_s=min(self.time_limit_s, left), deadline_unix=None)


@dataclass
class Timings:
    """Wall-clock seconds spent in each phase of a run."""

    load_s: float = 0.0
    build_s: float = 0.0
    solve_s: float = 0.0

    @contextmanager
    def measure(self, phase: str) -> Iterator[None]:
        """Add the time spent inside the block to ``<phase>_s``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            attr = f"{phase}_s"
            setattr(self, attr, getattr(self, attr) + time.perf_counter() - start)


def relative_gap(objective: float, bound: float) -> float:
    """Gap between a maximisation objective and its upper bound, relative to the bound."""
    if math.isclose(objective, bound, rel_tol=0.0, abs_tol=1e-9):
        return 0.0
    return abs(bound - objective) / max(abs(bound), 1e-9)


def cp_sat_status(code: int, *, has_solution: bool) -> SolveStatus:
    """Map a CP-SAT status code to ours."""
    from ortools.sat.python import cp_model

    if code == cp_model.OPTIMAL:
        return SolveStatus.OPTIMAL
    if code == cp_model.FEASIBLE:
        return SolveStatus.FEASIBLE
    if code == cp_model.INFEASIBLE:
        return SolveStatus.INFEASIBLE
    if code == cp_model.MODEL_INVALID:
        return SolveStatus.MODEL_INVALID
    return SolveStatus.FEASIBLE if has_solution else SolveStatus.UNKNOWN
