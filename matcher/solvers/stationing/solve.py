"""Cadres → villages (驻村第一书记和工作队): who is stationed where, and who leads each team.

Every cost is an integer in metres of travel, so each term reads "worth N metres":

- Hard: a cadre serves in at most one village; a team never exceeds ``team_max``; a cadre is
  never posted beyond ``max_distance_km`` (such pairs are not arcs at all); pinned cadres stay
  where they are; at most ``max_per_unit`` cadres of one home unit per village; each village's
  first secretary (one designated member) has rank ≥ ``min_secretary_rank``; under
  ``Coverage.HARD`` the team's skills cover every need of the village.
- Soft: the distance of every posting; ``continuity_threshold`` for each cadre who leaves a
  current posting they could have kept (so a cadre moves only when that gains more than the
  threshold); ``shortage_penalty`` per member missing below ``team_min``; ``secretary_penalty``
  per village without a first secretary of sufficient rank (counted for every village with
  ``team_min`` ≥ 1, staffed or not, and for any other staffed village); under ``Coverage.SOFT``,
  ``coverage_weight`` per need no member covers.

The objective is the sum of these terms, so a 0-cost "kept" posting and a 30 km move compare
directly. The penalties keep every problem feasible (save HARD coverage): a village that
cannot reach ``team_min`` gets what it can and is listed in ``StationingResult.short`` with a
reason (NO_ELIGIBLE_WITHIN_DISTANCE, NO_RANK, ALL_CANDIDATES_TAKEN).

``solve`` takes the fast path, one min-cost flow (``flow``), when only team sizes,
distance and continuity apply, and is then exact; otherwise the exact path
(``model``): CP-SAT from a greedy hint, helped by the LP relaxation's bound, rounding and
reduced-cost fixing (``common.sparse_search``). When time runs out it returns its
best solution with status FEASIBLE and the gap to the bound; it never raises for that. Both
paths are measured by one function (``result.evaluate``), so objectives compare.

Modules: ``problem`` (data), ``arcs`` (candidate arcs and distances), ``flow``, ``needs``,
``greedy``, ``model``, ``result``; ``common.sparse`` and ``common.sparse_search`` are the bulk
CP-SAT/LP model and its solve, shared with contracting and stability.
"""

from __future__ import annotations

from matcher.solvers.common.solving import SolveParams, Timings
from matcher.solvers.stationing.arcs import build_arcs
from matcher.solvers.stationing.flow import solve_flow
from matcher.solvers.stationing.model import solve_exact
from matcher.solvers.stationing.problem import (
    MIN_RANK,
    Coverage,
    StationingProblem,
    StationingResult,
)

__all__ = ["solve", "uses_fast_path"]


def uses_fast_path(problem: StationingProblem) -> bool:
    """True when no side constraint applies, so one min-cost flow solves the problem exactly."""
    villages = problem.villages
    coverage = problem.coverage is not Coverage.OFF and any(v.needs for v in villages)
    rank = any(v.min_secretary_rank > MIN_RANK for v in villages)
    limit = problem.max_per_unit
    units = limit is not None and any(v.team_max > limit for v in villages)
    return not (coverage or rank or units)


def solve(problem: StationingProblem, params: SolveParams | None = None) -> StationingResult:
    """Station cadres: min-cost flow when that is exact, CP-SAT otherwise (module doc)."""
    params = params or SolveParams()
    timings = Timings()
    with timings.measure("load"):
        arcs = build_arcs(problem)
    if uses_fast_path(problem):
        return solve_flow(problem, arcs, params, timings)
    return solve_exact(problem, arcs, params, timings)
