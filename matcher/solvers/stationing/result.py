"""Measure a stationing and explain it: objective terms, postings, short villages.

Both paths hand their solution here, so their objectives are the same function of the
postings (the module doc of ``matcher.solvers.stationing.solve`` lists the terms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from matcher.solvers.common.fairness import rank_loads
from matcher.solvers.common.solving import SolveStatus, Timings, relative_gap
from matcher.solvers.stationing.arcs import Arcs, BoolArray, IntArray
from matcher.solvers.stationing.problem import (
    Continuity,
    Coverage,
    Posting,
    ShortReason,
    StationingProblem,
    StationingResult,
    VillageShort,
)


@dataclass(frozen=True)
class Solution:
    """Posted arcs and, among them, the first secretaries (both arc indices)."""

    chosen: IntArray
    secretary: IntArray


def designate_secretaries(arcs: Arcs, chosen: IntArray, fixed: IntArray) -> IntArray:
    """``fixed`` plus, for each other staffed village, its highest-ranked member (nearest on
    ties) when that rank suffices."""
    done = np.zeros(len(arcs.sites.team_min), dtype=np.bool_)
    done[arcs.village[fixed]] = True
    free = chosen[~done[arcs.village[chosen]]]
    rank = arcs.sites.rank[arcs.cadre[free]]
    order = np.lexsort((arcs.cadre[free], arcs.dist_m[free], -rank, arcs.village[free]))
    villages = arcs.village[free[order]]
    first = order[np.concatenate([[True], villages[1:] != villages[:-1]])] if len(order) else order
    best = free[first]
    best = best[arcs.sites.rank[arcs.cadre[best]] >= arcs.sites.min_rank[arcs.village[best]]]
    return np.concatenate([fixed, best]).astype(np.int64)


@dataclass(frozen=True)
class Terms:
    distance: int
    continuity: int
    shortage: int
    no_secretary: int
    uncovered: int

    @property
    def total(self) -> int:
        return self.distance + self.continuity + self.shortage + self.no_secretary + self.uncovered


def evaluate(problem: StationingProblem, arcs: Arcs, solution: Solution) -> Terms:
    """The objective of ``solution``, term by term."""
    chosen = solution.chosen
    members, has_secretary = _staffing(arcs, solution)
    missing = np.maximum(arcs.sites.team_min - members, 0)
    headless = ((arcs.sites.team_min > 0) | (members > 0)) & ~has_secretary
    weight = problem.coverage_weight if problem.coverage is Coverage.SOFT else 0
    return Terms(
        distance=int(arcs.dist_m[chosen].sum()),
        continuity=arcs.continuity_offset
        - problem.continuity_threshold * int(arcs.kept[chosen].sum()),
        shortage=problem.shortage_penalty * int(missing.sum()),
        no_secretary=problem.secretary_penalty * int(headless.sum()),
        uncovered=weight * len(uncovered_needs(problem, arcs, chosen)),
    )


def uncovered_needs(
    problem: StationingProblem, arcs: Arcs, chosen: IntArray
) -> list[tuple[str, str]]:
    """(village id, need) pairs no posted member's skills cover (empty when coverage is OFF)."""
    if problem.coverage is Coverage.OFF:
        return []
    return open_needs(problem, arcs, chosen)


def open_needs(problem: StationingProblem, arcs: Arcs, chosen: IntArray) -> list[tuple[str, str]]:
    """(village id, need) pairs no posted member's skills cover, whatever the coverage mode."""
    skills: dict[int, set[str]] = {}
    for c, v in zip(arcs.cadre[chosen].tolist(), arcs.village[chosen].tolist(), strict=True):
        skills.setdefault(v, set()).update(problem.cadres[c].skills)
    return [
        (village.id, need)
        for j, village in enumerate(problem.villages)
        for need in sorted(village.needs - skills.get(j, set()))
    ]


def _staffing(arcs: Arcs, solution: Solution) -> tuple[IntArray, BoolArray]:
    n = len(arcs.sites.team_min)
    members = np.bincount(arcs.village[solution.chosen], minlength=n).astype(np.int64)
    has_secretary = np.zeros(n, dtype=np.bool_)
    has_secretary[arcs.village[solution.secretary]] = True
    return members, has_secretary


def build_result(
    problem: StationingProblem,
    arcs: Arcs,
    solution: Solution,
    *,
    status: SolveStatus,
    bound: int,
    timings: Timings,
    fast_path: bool,
) -> StationingResult:
    """The result of ``solution``; its objective is recomputed here, never taken from a solver."""
    objective = evaluate(problem, arcs, solution).total
    bound = min(bound, objective)  # a proven lower bound never exceeds a found solution
    uncovered = tuple(uncovered_needs(problem, arcs, solution.chosen))
    still_open = len(uncovered)
    if not uncovered and any(v.needs for v in problem.villages):  # OFF mode, or all covered
        still_open = len(open_needs(problem, arcs, solution.chosen))
    return StationingResult(
        status=status,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        timings=timings,
        postings=_postings(problem, arcs, solution),
        short=_short(problem, arcs, solution),
        uncovered=uncovered,
        released=_released(problem, arcs, solution.chosen),
        fast_path=fast_path,
        **_fairness(problem, arcs, solution, still_open),
    )


def _fairness(
    problem: StationingProblem, arcs: Arcs, solution: Solution, uncovered: int
) -> dict[str, Any]:
    """Postings by rank against the cadres of each rank, the share of villages whose team
    reaches team_min, and the share of their needs some member covers."""
    sites = arcs.sites
    posted = np.zeros(len(sites.rank), dtype=np.int64)
    posted[arcs.cadre[solution.chosen]] = 1
    members, _ = _staffing(arcs, solution)
    staffed = int((members >= sites.team_min).sum())
    needs = sum(len(v.needs) for v in problem.villages)
    return {
        "rank_loads": rank_loads(sites.rank, posted, np.ones_like(posted)),
        "village_coverage": staffed / len(members) if len(members) else 1.0,
        "need_coverage": 1 - uncovered / needs if needs else 1.0,
    }


def empty_result(
    status: SolveStatus, timings: Timings, uncovered: tuple[tuple[str, str], ...] = ()
) -> StationingResult:
    """No solution: infeasible (HARD coverage), invalid, or nothing found in time."""
    return StationingResult(status, 0, 0, 0.0, timings, uncovered=uncovered)


def _postings(problem: StationingProblem, arcs: Arcs, solution: Solution) -> tuple[Posting, ...]:
    heads = set(solution.secretary.tolist())
    chosen = solution.chosen
    rows = zip(
        chosen.tolist(),
        arcs.cadre[chosen].tolist(),
        arcs.village[chosen].tolist(),
        arcs.dist_m[chosen].tolist(),
        arcs.kept[chosen].tolist(),
        strict=True,
    )
    postings = []
    for a, c, v, metres, kept in rows:
        cadre, village = problem.cadres[c], problem.villages[v]
        if kept:
            continuity = Continuity.KEPT
        elif cadre.current_village_id is None:
            continuity = Continuity.NEW
        else:
            continuity = Continuity.MOVED
        matched = cadre.skills & village.needs
        postings.append(
            Posting(cadre.id, village.id, a in heads, matched, metres / 1000, continuity)
        )
    return tuple(postings)


def _short(problem: StationingProblem, arcs: Arcs, solution: Solution) -> tuple[VillageShort, ...]:
    """Villages below team_min or staffed without a secretary, each with the reason."""
    sites = arcs.sites
    members, has_secretary = _staffing(arcs, solution)
    headless = ((sites.team_min > 0) | (members > 0)) & ~has_secretary
    short = np.flatnonzero((members < sites.team_min) | headless)
    if len(short) == 0:
        return ()
    # Distinct cadres within reach of each short village, and how many of them rank high enough.
    is_short = np.zeros(len(members), dtype=np.bool_)
    is_short[short] = True
    near = np.flatnonzero(is_short[arcs.village])
    pairs = np.unique(np.stack([arcs.village[near], arcs.cadre[near]]), axis=1)
    reach = np.bincount(pairs[0], minlength=len(members))
    ranked = sites.rank[pairs[1]] >= sites.min_rank[pairs[0]]
    senior = np.bincount(pairs[0][ranked], minlength=len(members))
    result = []
    for j in short.tolist():
        if members[j] < sites.team_min[j] and reach[j] < sites.team_min[j]:
            reason = ShortReason.NO_ELIGIBLE_WITHIN_DISTANCE
        elif members[j] >= sites.team_min[j] and senior[j] == 0:
            reason = ShortReason.NO_RANK
        else:
            reason = ShortReason.ALL_CANDIDATES_TAKEN
        village = problem.villages[j]
        result.append(
            VillageShort(
                village.id, int(members[j]), village.team_min, bool(has_secretary[j]), reason
            )
        )
    return tuple(result)


def _released(problem: StationingProblem, arcs: Arcs, chosen: IntArray) -> tuple[str, ...]:
    posted = np.zeros(len(problem.cadres), dtype=np.bool_)
    posted[arcs.cadre[chosen]] = True
    return tuple(
        c.id
        for c, p in zip(problem.cadres, posted.tolist(), strict=True)
        if c.current_village_id and not p
    )
