"""Aid allocation: budgeted programmes to the households whose causes of poverty they address.

A multiple knapsack: households × programmes, one grant per programme per household, budgets,
a per-household cap, exclusive groups and regional quotas; maximise need covered (NEED) or
first the number of households helped, then need (REACH_FIRST, lexicographic). Need and value
are defined in ``matcher.solvers.aid.problem``.

How ``solve`` goes (``params.time_limit_s`` covers all of it; running out of time returns the
best solution found with status FEASIBLE, never an exception):

1. eligible pairs as numpy arrays (``pairs``); two greedy solutions (``greedy``);
2. budget and quota prices (``prices``, at most half the time): an upper bound close to
   the LP optimum and a solution close to the optimum;
3. CP-SAT (``model``, ``search``) from the best solution so far as its hint: on the whole
   model when it is small enough for CP-SAT to prove optimality in seconds, otherwise on one
   chunk of households at a time (``polish``). REACH_FIRST always solves the whole model,
   in two phases.

The reported bound is the smallest of CP-SAT's (whole model only), the prices' and the
fractional-knapsack one; the objective is always recomputed from the grants.

``params.reproducible`` (one worker, a fixed seed, CP-SAT on deterministic time) gives identical
results for identical input unless the wall-clock limit is what stops the search: the price
search and the rounds of the polish stop on the wall clock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from matcher.solvers.aid.greedy import Assignment, density_assignment, greedy_assignment
from matcher.solvers.aid.model import (
    AidModel,
    assignment_of,
    build_model,
    hint,
    maximise_need,
    maximise_reach,
    require_reach,
    values_of,
)
from matcher.solvers.aid.pairs import (
    Pairs,
    QuotaTarget,
    dantzig_bound,
    eligible_pairs,
    quota_targets,
)
from matcher.solvers.aid.polish import polish
from matcher.solvers.aid.prices import search_prices
from matcher.solvers.aid.problem import (
    AidObjective,
    AidProblem,
)
from matcher.solvers.aid.result import (
    AidResult,
    build_result,
    empty_result,
)
from matcher.solvers.aid.search import NO_BOUND, Clock, Run, run
from matcher.solvers.common.solving import SolveParams, SolveStatus, Timings, cp_sat_status

__all__ = ["greedy", "solve"]

_PRICE_SHARE = 0.5  # of the time limit, at most, for the price search
# Up to this many grantable pairs CP-SAT gets the whole model (and can prove optimality);
# beyond, the whole model's LP alone outlasts a 30 s limit.
_WHOLE_MODEL_COLUMNS = 20_000


def greedy(problem: AidProblem) -> AidResult:
    """The need-first greedy alone (``matcher.solvers.aid.greedy``), with the fractional-knapsack
    bound.

    Status FEASIBLE (OPTIMAL if it meets the bound), or UNKNOWN if it could not meet a quota:
    its grants are still listed then, but they fall short of that quota.
    """
    timings = Timings()
    with timings.measure("build"):
        pairs = eligible_pairs(problem)
        targets = quota_targets(problem, pairs)
        bound = dantzig_bound(pairs)
    with timings.measure("solve"):
        start = greedy_assignment(problem, pairs, targets)
    status = SolveStatus.FEASIBLE if start.meets(targets, pairs) else SolveStatus.UNKNOWN
    return build_result(problem, pairs, start, status=status, bound=bound, timings=timings)


def solve(problem: AidProblem, params: SolveParams | None = None) -> AidResult:
    """The best allocation found within ``params`` (see the module doc for the steps)."""
    params = params or SolveParams()
    timings = Timings()
    started = time.perf_counter()
    with timings.measure("build"):
        pairs = eligible_pairs(problem)
        targets = quota_targets(problem, pairs)
        clock = Clock(params, started, len(pairs.household))
        greedy_starts = [
            greedy_assignment(problem, pairs, targets),
            density_assignment(problem, pairs, targets),
        ]
    with timings.measure("solve"):
        deadline = started + _PRICE_SHARE * params.time_limit_s
        # Prices concern value, so their search starts from the most valuable greedy solution.
        richest = _best(problem, pairs, targets, greedy_starts, by_reach=False)
        searched = search_prices(problem, pairs, targets, richest, deadline)
        start = _best(problem, pairs, targets, [*greedy_starts, searched.assignment])
        bound = min(math.ceil(searched.prices.bound), dantzig_bound(pairs))
        valid = start if start.meets(targets, pairs) else None
        columns = int(pairs.grantable.sum())
        if problem.objective is AidObjective.NEED and columns > _WHOLE_MODEL_COLUMNS and valid:
            polished = polish(problem, pairs, targets, valid, searched, clock)
            found = _Found(SolveStatus.FEASIBLE, polished, NO_BOUND)
        else:
            found = _whole_model(problem, pairs, targets, start, valid, clock, timings)
    bound = min(bound, found.bound)
    if found.assignment is None:
        return empty_result(found.status, bound, timings)
    return build_result(
        problem, pairs, found.assignment, status=found.status, bound=bound, timings=timings
    )


def _best(
    problem: AidProblem,
    pairs: Pairs,
    targets: tuple[QuotaTarget, ...],
    candidates: list[Assignment],
    *,
    by_reach: bool = True,
) -> Assignment:
    """The best candidate by the objective (by value alone unless ``by_reach``), preferring
    those that meet every quota."""
    reach = by_reach and problem.objective is AidObjective.REACH_FIRST

    def rank(assignment: Assignment) -> tuple[bool, int, int]:
        helped = len(np.unique(pairs.household[assignment.granted])) if reach else 0
        return assignment.meets(targets, pairs), helped, assignment.value(pairs)

    return max(candidates, key=rank)


@dataclass(frozen=True)
class _Found:
    status: SolveStatus
    assignment: Assignment | None
    bound: int


def _whole_model(
    problem: AidProblem,
    pairs: Pairs,
    targets: tuple[QuotaTarget, ...],
    start: Assignment,
    valid: Assignment | None,
    clock: Clock,
    timings: Timings,
) -> _Found:
    """CP-SAT on the whole model from ``start``; ``valid`` (if any) is kept if it does better."""
    with timings.measure("build"):
        aid = build_model(problem, pairs, targets)
    if problem.objective is AidObjective.REACH_FIRST:
        return _reach_first(aid, start, valid, clock)
    maximise_need(aid)
    hint(aid, values_of(aid, start))
    outcome = run(aid, clock, clock.left())
    if outcome.values is None:
        return _fallback(outcome, valid)
    found = assignment_of(aid, outcome.values)
    if valid is not None and found.value(pairs) < valid.value(pairs):
        found = valid  # possible only when cut short
    return _Found(cp_sat_status(outcome.code, has_solution=True), found, outcome.bound)


def _reach_first(
    aid: AidModel, start: Assignment, valid: Assignment | None, clock: Clock
) -> _Found:
    """REACH_FIRST: maximise households helped (half the time left), then fix that count and
    maximise need from that solution. Exact when both phases finish."""
    maximise_reach(aid)
    hint(aid, values_of(aid, start))
    first = run(aid, clock, clock.left(0.5))
    if first.values is None:
        return _fallback(first, valid)
    reach_values = first.values
    if valid is not None and _helped(aid, valid) > _helped(aid, assignment_of(aid, reach_values)):
        reach_values = values_of(aid, valid)
    require_reach(aid, _helped(aid, assignment_of(aid, reach_values)))
    maximise_need(aid)
    hint(aid, reach_values)
    second = run(aid, clock, clock.left())
    values = second.values if second.values is not None else reach_values
    status = SolveStatus.OPTIMAL if first.optimal and second.optimal else SolveStatus.FEASIBLE
    return _Found(status, assignment_of(aid, values), second.bound)


def _helped(aid: AidModel, assignment: Assignment) -> int:
    return len(np.unique(aid.pairs.household[assignment.granted]))


def _fallback(outcome: Run, valid: Assignment | None) -> _Found:
    """CP-SAT found no solution: report infeasibility, else the start if it is valid."""
    status = cp_sat_status(outcome.code, has_solution=False)
    if status is SolveStatus.UNKNOWN and valid is not None:
        return _Found(SolveStatus.FEASIBLE, valid, outcome.bound)
    return _Found(status, None, outcome.bound)
