"""Running CP-SAT on an aid model: time budget, parameters, progress and the raw outcome."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from matcher.solvers.aid.model import AidModel
from matcher.solvers.aid.pairs import IntArray
from matcher.solvers.common.progress import CpSatProgress
from matcher.solvers.common.solving import SolveParams

NO_BOUND = 2**62
_MIN_RUN_S = 0.05  # CP-SAT needs a moment even to return the hint it was given
_RESERVE_S_PER_PAIR = 1e-5  # turning a solution into grants and explanations afterwards


@dataclass(frozen=True)
class Clock:
    """The caller's params and deadline, shared by every CP-SAT run of one solve."""

    params: SolveParams
    started: float
    pairs: int  # eligible pairs, to reserve time for building the result

    def left(self, share: float = 1.0) -> float:
        """Seconds for the next run: ``share`` of what is left, less the reserve."""
        reserve = min(0.1 * self.params.time_limit_s, 0.02 + _RESERVE_S_PER_PAIR * self.pairs)
        spent = time.perf_counter() - self.started
        return max(_MIN_RUN_S, (self.params.time_limit_s - reserve - spent) * share)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


@dataclass(frozen=True)
class Run:
    """A CP-SAT outcome: its status code, variable values if it found any, its bound."""

    code: int
    values: IntArray | None
    bound: int  # NO_BOUND when CP-SAT proved none

    @property
    def optimal(self) -> bool:
        return self.code == cp_model.OPTIMAL


def run(aid: AidModel, clock: Clock, seconds: float, *, report: bool = True) -> Run:
    """One CP-SAT solve of the model as it stands, forwarding progress if ``report``."""
    solver = cp_model.CpSolver()
    configure(solver.parameters, clock.params, seconds)
    progress = clock.params.progress if report else None
    # (in REACH_FIRST's first phase the figures reported count households, not value)
    callback = CpSatProgress(progress, clock.started) if progress is not None else None
    code = solver.solve(aid.model, callback)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Run(int(code), None, NO_BOUND)
    values = np.array(solver.response_proto.solution, dtype=np.int64)
    bound = solver.best_objective_bound
    # Stopped before its first bound (in presolve, say), CP-SAT reports 0, which bounds nothing.
    if bound < solver.objective_value:
        bound = math.inf
    return Run(int(code), values, _int_bound(bound))


def configure(parameters: cp_model.SatParameters, params: SolveParams, seconds: float) -> None:
    """Map our params onto CP-SAT's, with the settings this model was tuned with (bench/aid.py).

    - no presolve: its dominance rules add ~150,000 clauses at 5,000 households and take
      longer than the solve; the model needs no rewriting (no big-M, all rows tight);
    - every constraint in the root LP at once, not lazily: the LP bound is then within 0.01%
      of the optimum after the first LP solve instead of creeping down over many cut rounds;
    - no LNS: its neighbourhoods of a 200,000-variable model take tens of seconds to build
      and ignore the time limit; ``matcher.solvers.aid.polish`` does a focused LNS of its own.
    """
    parameters.max_time_in_seconds = seconds
    parameters.num_workers = params.effective_workers
    parameters.random_seed = params.seed
    parameters.relative_gap_limit = params.relative_gap
    parameters.cp_model_presolve = False
    parameters.add_lp_constraints_lazily = False
    parameters.use_lns = False
    if params.reproducible:
        # A wall-clock limit stops at a different point each run; deterministic time does not.
        parameters.max_deterministic_time = seconds


def _int_bound(bound: float) -> int:
    """CP-SAT's bound of an integer objective, as an int."""
    return math.floor(bound + 1e-6) if math.isfinite(bound) else NO_BOUND
