"""Running the exact model: CP-SAT parameters, progress reports and the objective stages."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from matcher.solvers.common.progress import CpSatProgress
from matcher.solvers.common.solving import Objective, SolveParams, SolveStatus, cp_sat_status
from matcher.solvers.produce.arcs import Arcs
from matcher.solvers.produce.flow import FlowSolution
from matcher.solvers.produce.model import (
    Model,
    build_model,
    repair,
    set_hint,
    trucks_needed,
    value_expr,
)
from matcher.solvers.produce.result import Solution, arc_bonus, objective_value
from matcher.solvers.produce.tables import Tables

IntArray = npt.NDArray[np.int64]

MIN_STAGE_S = 0.01  # CP-SAT needs some time to even load the hint


@dataclass
class Budget:
    """Time left for CP-SAT. Reproducible runs count deterministic time (work, identical on
    every run) instead of wall-clock, so the stages' limits and hence results repeat."""

    params: SolveParams
    started: float
    spent_deterministic: float = 0.0

    def left(self) -> float:
        if self.params.reproducible:
            return self.params.time_limit_s - self.spent_deterministic
        return self.wall_left()

    def wall_left(self) -> float:
        """Wall-clock seconds left: the limit itself, except that a reproducible solve spends
        its limit as deterministic time and is capped on the wall only by a deadline (or, with
        none, by a generous backstop against runaways)."""
        limit = self.params.time_limit_s
        if self.params.reproducible:
            cap = self.params.wall_limit_s
            limit = cap if cap is not None else max(10 * limit, limit + 10)
        return limit - (time.perf_counter() - self.started)


@dataclass(frozen=True)
class Stage:
    status: SolveStatus
    flow: IntArray | None  # None when CP-SAT found nothing in time
    bound: float


def configure(
    solver: cp_model.CpSolver, params: SolveParams, limit_s: float, wall_s: float
) -> None:
    """Seed, workers, gap and time.

    Reproducible runs stop on deterministic time (a count of work, identical on every run)
    so identical input gives identical output even when the limit cuts the search. The
    caller's deadline still holds as a wall-clock cap: a run whose deterministic budget
    outlasts it (a loaded machine) stops on wall time and may then differ between runs.
    """
    p = solver.parameters
    p.random_seed = params.seed
    p.num_workers = params.effective_workers
    p.relative_gap_limit = params.relative_gap
    if params.reproducible:
        p.max_deterministic_time = limit_s
    p.max_time_in_seconds = wall_s


def run_stage(
    model: Model, objective: cp_model.LinearExprT, budget: Budget, share: float = 1.0
) -> Stage:
    """Maximise ``objective`` with ``share`` of the time left."""
    params = budget.params
    model.cp.maximize(objective)
    solver = cp_model.CpSolver()
    configure(
        solver,
        params,
        max(budget.left() * share, MIN_STAGE_S),
        max(budget.wall_left() * share, MIN_STAGE_S),
    )
    callback = CpSatProgress(params.progress, budget.started) if params.progress else None
    code = solver.solve(model.cp, callback)
    budget.spent_deterministic += solver.response_proto.deterministic_time
    has_solution = code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    status = cp_sat_status(int(code), has_solution=has_solution)
    if status in (SolveStatus.INFEASIBLE, SolveStatus.MODEL_INVALID):
        # Shipping nothing is always feasible, so this is a modelling bug, not bad input.
        raise RuntimeError(f"CP-SAT reported {status.value} for the produce model")
    flow = None
    if has_solution:
        values = np.asarray(solver.response_proto.solution, dtype=np.int64)
        flow = values[[v.index for v in model.x]] if model.x else np.zeros(0, np.int64)
    return Stage(status, flow, solver.best_objective_bound)


def _pick(
    stage: Stage, fallback: IntArray, score: Callable[[IntArray], int]
) -> tuple[IntArray, bool]:
    """The stage's flow unless the (feasible) fallback scores higher; True if CP-SAT's."""
    if stage.flow is not None and score(stage.flow) >= score(fallback):
        return stage.flow, True
    return fallback, False


def _bound(bound: float) -> int | None:
    return math.floor(bound + 1e-6) if math.isfinite(bound) else None


def solve_exact(
    objective: Objective,
    parts: tuple[Arcs, Tables],
    params: SolveParams,
    relaxed: FlowSolution,
    started: float,
) -> Solution:
    """Best allocation under every side constraint within the time left.

    Trucks are recounted as the fewest that carry each lane's kg: never more costly than
    CP-SAT's count, and the same at an optimum.
    """
    arcs, tables = parts
    model = build_model(arcs, tables)

    def value(flow: IntArray) -> int:
        return objective_value(objective, arcs, tables, flow, trucks_needed(arcs, flow))

    budget = Budget(params, started)
    poor_bound = None
    if objective is Objective.WELFARE:
        flow, status, bound = _welfare(model, parts, budget, relaxed, value)
    else:
        (flow, status, bound), poor_bound = _poverty_first(model, parts, budget, relaxed, value)
    trucks = trucks_needed(arcs, flow)
    bound = None if bound is None else max(bound, value(flow))
    return Solution(flow, trucks, status, bound, "cp_sat", relaxed, True, poor_bound)


Outcome = tuple[IntArray, SolveStatus, int | None]


def _welfare(
    model: Model,
    parts: tuple[Arcs, Tables],
    budget: Budget,
    relaxed: FlowSolution,
    value: Callable[[IntArray], int],
) -> Outcome:
    arcs, tables = parts
    per_kg = arcs.margin + arc_bonus(Objective.WELFARE, arcs, tables)
    hint, _ = repair(arcs, tables, relaxed.flow, per_kg)
    # Dropping side constraints and fixed costs only helps, so the relaxation bounds us too.
    relax = int(per_kg @ relaxed.flow)
    if value(hint) >= relax:  # the repaired relaxation meets its own bound: nothing to search
        if budget.params.progress:
            budget.params.progress(relax, relax, time.perf_counter() - budget.started)
        return hint, SolveStatus.OPTIMAL, relax
    set_hint(model, arcs, hint)
    expr = value_expr(model, arcs, per_kg)
    model.cp.add(expr <= relax)  # a valid cut that lets CP-SAT stop once it reaches the bound
    stage = run_stage(model, expr, budget)
    flow, from_cp = _pick(stage, hint, value)
    cp_bound = _bound(stage.bound)
    bound = relax if cp_bound is None else min(relax, cp_bound)
    proven = (from_cp and stage.status is SolveStatus.OPTIMAL) or value(flow) >= bound
    return flow, SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE, bound


def _poverty_first(
    model: Model,
    parts: tuple[Arcs, Tables],
    budget: Budget,
    relaxed: FlowSolution,
    value: Callable[[IntArray], int],
) -> tuple[Outcome, int]:
    """Two stages: priority kg (given half the time left), then value with priority kg held."""
    arcs, tables = parts
    poor = tables.listings.poor_bp[arcs.listing]
    hint, _ = repair(arcs, tables, relaxed.flow, None)
    set_hint(model, arcs, hint)
    poor_expr = cp_model.LinearExpr.weighted_sum(model.x, [int(c) for c in poor])
    first = run_stage(model, poor_expr, budget, share=0.5)
    flow1, from_cp1 = _pick(first, hint, lambda f: int(poor @ f))
    model.cp.add(poor_expr >= int(poor @ flow1))
    set_hint(model, arcs, flow1)
    objective = value_expr(model, arcs, arcs.margin)
    second = run_stage(model, objective, budget)
    flow, from_cp2 = _pick(second, flow1, value)
    proven = from_cp1 and from_cp2 and first.status is second.status is SolveStatus.OPTIMAL
    reached = int(poor @ flow1)
    first_bound = _bound(first.bound)
    poor_bound = reached if first_bound is None else max(reached, first_bound)
    status = SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE
    return (flow, status, _bound(second.bound)), poor_bound
