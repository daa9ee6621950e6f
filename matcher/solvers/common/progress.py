"""CP-SAT's improving solutions as progress reports, for every model that CP-SAT solves."""

from __future__ import annotations

import time

from ortools.sat.python import cp_model

from matcher.solvers.common.solving import ProgressCallback


class CpSatProgress(cp_model.CpSolverSolutionCallback):
    """Forward each improving solution as (objective, bound, seconds since ``started``, a
    time.perf_counter() reading)."""

    def __init__(self, report: ProgressCallback, started: float) -> None:
        super().__init__()
        self._report = report
        self._started = started

    def on_solution_callback(self) -> None:
        elapsed = time.perf_counter() - self._started
        self._report(self.objective_value, self.best_objective_bound, elapsed)
