"""Solve a ``SparseModel``: CP-SAT with help from the model's LP relaxation.

1. GLOP solves the LP relaxation: a lower bound, and values the caller rounds into a feasible
   start. These models' LPs are nearly integral (20 fractional values out of 278,000 at
   20,000 cadres × 1,000 villages), so the rounding is often optimal or close.
2. RINS: CP-SAT settles the variables the LP leaves fractional, the others fixed.
3. The caller's own improvement, if any (contracting's window search).
4. Reduced-cost fixing: a variable at a bound in the LP whose reduced cost exceeds the gap
   between the best solution and the LP bound cannot move in any better solution, so it is
   fixed. This is exact, not a heuristic: a solution that moved it would cost more than the
   one in hand.
5. CP-SAT solves what is left from the best solution, and proves or improves it.

Each step stops the search once the solution is within ``params.relative_gap`` of the bound.
Without steps 1 and 4, CP-SAT's own LP took most of a minute to reach the bound GLOP finds in
seconds at that size. CP-SAT's presolve is off for the full model: there it rewrote the
secretary equalities so that its LP bound fell back to the plain flow relaxation (measured:
bound stuck 15% low with presolve, optimal in 8 s without). Sub-models (RINS, windows) keep
it, since most of their variables are fixed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from ortools.sat.python import cp_model

from matcher.solvers.common.progress import CpSatProgress
from matcher.solvers.common.solving import (
    ProgressCallback,
    SolveParams,
    SolveStatus,
    cp_sat_status,
    relative_gap,
)
from matcher.solvers.common.sparse import INT_MAX, FloatArray, IntArray, Relaxation, SparseModel

LP_SHARE = 0.4  # of the time left, at most this much for the LP relaxation
RINS_SHARE = 0.25  # then at most this much to settle what the LP leaves fractional
IMPROVE_SHARE = 0.6  # then at most this much for the caller's own improvement, if any
WRAP_UP_S = 1.5  # kept back from the time limit for decoding and reporting
MIN_CP_SAT_S = 1.0  # with less time left than this, step 5 is skipped


@dataclass(frozen=True)
class Outcome:
    status: SolveStatus
    values: IntArray | None  # every variable; None without a solution
    bound: int  # lower bound on the objective


Rounding = Callable[[FloatArray], IntArray | None]
# (a solution, seconds, target objective) → one as good or better; it may stop at the target.
Improve = Callable[[IntArray, float, int], IntArray]


def solve_sparse(
    model: SparseModel,
    start: IntArray | None,
    rounding: Rounding,
    params: SolveParams,
    started: float,
    improve: Improve | None = None,
    *,
    lp: Relaxation | None = None,
    bound: int | None = None,
    improve_share: float = IMPROVE_SHARE,
) -> Outcome:
    """The steps of the module doc, within ``params.time_limit_s`` since ``started``.

    ``start`` is a feasible assignment or None; ``rounding`` turns LP values into one;
    ``improve``, if given, gets the best one for up to ``improve_share`` of the time left.
    ``lp``, if given, is the LP relaxation solved already (a faster special form); GLOP
    solves it otherwise. ``bound``, if given, is a lower bound known already (a Lagrangian
    one): the better of it and the LP's sets the search's target and is reported.
    """
    lp = lp if lp is not None else model.lp_relaxation(_left(params, started) * LP_SHARE)
    if lp is not None and math.isinf(lp.value):
        return Outcome(SolveStatus.INFEASIBLE, None, INT_MAX)
    best = _heuristics(model, lp, start, rounding, params, started)
    bound = max(lp.bound if lp is not None else -INT_MAX, bound if bound is not None else -INT_MAX)
    if best is not None and improve is not None and not _close_enough(model, best, bound, params):
        seconds = _left(params, started) * improve_share
        best = _better(model, best, improve(best, seconds, _target(bound, params)))
    _report(params.progress, model, best, bound, started)
    if best is not None and _close_enough(model, best, bound, params):
        value = model.value(best)
        status = SolveStatus.OPTIMAL if value <= bound else SolveStatus.FEASIBLE
        return Outcome(status, best, min(bound, value))
    if best is not None and _left(params, started) < MIN_CP_SAT_S:
        return Outcome(SolveStatus.FEASIBLE, best, min(bound, model.value(best)))
    if best is not None and lp is not None:
        model.fix_by_reduced_cost(lp, model.value(best))
    return _finish(model, best, bound, run_cp_sat(model, best, params, started))


def _heuristics(
    model: SparseModel,
    lp: Relaxation | None,
    start: IntArray | None,
    rounding: Rounding,
    params: SolveParams,
    started: float,
) -> IntArray | None:
    """The best of ``start``, the LP rounded, and RINS (steps 1–2)."""
    if lp is None:
        return start
    best = _better(model, start, rounding(lp.x))
    _report(params.progress, model, best, lp.bound, started)
    if best is None or not _close_enough(model, best, lp.bound, params):
        best = _better(model, best, _rins(model, lp, params, started))
    return best


def _finish(model: SparseModel, best: IntArray | None, bound: int, found: Found) -> Outcome:
    """Combine CP-SAT's run on the reduced model with what was known before it.

    CP-SAT says OPTIMAL also when it stops at the relative gap limit, so its bound is used as
    is. The fixings only exclude solutions worse than ``best``, so the reduced model's bound
    holds for every better one: min(its bound, value) holds for all. INFEASIBLE with a start
    means nothing beats the start.
    """
    values = _better(model, best, found.values)
    if values is None:
        return Outcome(cp_sat_status(found.code, has_solution=False), None, bound)
    value = model.value(values)
    refuted = found.code == cp_model.INFEASIBLE and best is not None
    bound = value if refuted else max(bound, min(found.bound, value))
    status = SolveStatus.OPTIMAL if bound >= value else SolveStatus.FEASIBLE
    return Outcome(status, values, min(bound, value))


@dataclass(frozen=True)
class Found:
    code: int
    values: IntArray | None
    bound: int


def _rins(
    model: SparseModel, lp: Relaxation, params: SolveParams, started: float
) -> IntArray | None:
    """Fix every variable the LP leaves integral and let CP-SAT settle the rest, with presolve
    (which drops the fixed ones); None if that is infeasible or unsolved in its time share."""
    rounded = np.clip(np.rint(lp.x), model.lower, model.upper).astype(np.int64)
    integral = np.abs(lp.x - rounded) <= 1e-6
    lower = np.where(integral, rounded, model.lower)
    upper = np.where(integral, rounded, model.upper)
    sub = SparseModel(lower, upper, model.rows, model.cost, model.offset)
    seconds = _left(params, started) * RINS_SHARE
    quiet = replace(params, progress=None)  # its bound is the sub-model's, not ours
    return run_cp_sat(sub, None, quiet, started, seconds=seconds, presolve=True).values


def run_cp_sat(
    model: SparseModel,
    hint: IntArray | None,
    params: SolveParams,
    started: float,
    *,
    seconds: float | None = None,
    presolve: bool = False,
) -> Found:
    """CP-SAT on the model from ``hint``, for ``seconds`` or else the time left."""
    model_proto = model.cp_model(hint)  # seconds at 400,000 variables: counted in the limit
    solver = cp_model.CpSolver()
    parameters = solver.parameters
    seconds = max(_left(params, started) if seconds is None else seconds, 0.05)
    parameters.max_time_in_seconds = seconds
    parameters.num_workers = params.effective_workers
    parameters.random_seed = params.seed
    parameters.relative_gap_limit = params.relative_gap
    parameters.cp_model_presolve = presolve  # off for the full model: see the module doc
    if params.reproducible:
        # A wall-clock limit stops at a different point each run; deterministic time does not.
        parameters.max_deterministic_time = seconds
    progress = params.progress
    callback = CpSatProgress(progress, started) if progress is not None else None
    code = solver.solve(model_proto, callback)
    values = None
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        values = np.array(solver.response_proto.solution, dtype=np.int64)
    bound = solver.best_objective_bound
    lower = math.ceil(bound - 1e-6) if math.isfinite(bound) else -INT_MAX
    return Found(int(code), values, lower)


def _close_enough(model: SparseModel, values: IntArray, bound: int, params: SolveParams) -> bool:
    """Proven optimal, or within the caller's relative gap."""
    value = model.value(values)
    return value <= bound or relative_gap(value, bound) <= params.relative_gap


def _target(bound: int, params: SolveParams) -> int:
    """The largest objective within the caller's relative gap of ``bound``."""
    return bound + math.floor(params.relative_gap * abs(bound))


def _better(model: SparseModel, a: IntArray | None, b: IntArray | None) -> IntArray | None:
    if a is None or (b is not None and model.value(b) < model.value(a)):
        return b
    return a


def _left(params: SolveParams, started: float) -> float:
    wrap_up = min(WRAP_UP_S, 0.05 * params.time_limit_s)
    return params.time_limit_s - wrap_up - (time.perf_counter() - started)


def _report(
    progress: ProgressCallback | None,
    model: SparseModel,
    values: IntArray | None,
    bound: int,
    started: float,
) -> None:
    if progress is not None and values is not None:
        progress(model.value(values), bound, time.perf_counter() - started)
