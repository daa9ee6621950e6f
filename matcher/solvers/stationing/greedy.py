"""A quick stationing that respects every hard rule but coverage: the exact path's hint.

Passes over the arcs in order of cost, each placing a cadre when the cadre is free, the team
has room and the cadre's home unit is under its limit there:

1. pinned cadres (then the ``start`` arcs, if given);
2. a first secretary of sufficient rank for each village that asks for rank;
3. cadres bringing a skill the village still needs (coverage not OFF);
4. anyone, up to ``team_min``;
5. cadres whose arc costs less than nothing (a kept posting's bonus beats its distance).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from matcher.solvers.stationing.arcs import Arcs, IntArray
from matcher.solvers.stationing.problem import Coverage, StationingProblem
from matcher.solvers.stationing.result import Solution, designate_secretaries


def unit_codes(problem: StationingProblem) -> IntArray:
    """Each cadre's home unit as a small integer."""
    codes: dict[str, int] = {}
    return np.array([codes.setdefault(c.home_unit, len(codes)) for c in problem.cadres], np.int64)


@dataclass
class _Teams:
    """Who is placed so far, and what each placement would still break."""

    arcs: Arcs
    units: IntArray
    limit: int | None
    free: list[bool]
    members: list[int]
    per_unit: dict[tuple[int, int], int] = field(default_factory=dict)
    placed: list[int] = field(default_factory=list)

    def fits(self, a: int) -> bool:
        c, v = int(self.arcs.cadre[a]), int(self.arcs.village[a])
        if not self.free[c] or self.members[v] >= self.arcs.sites.team_max[v]:
            return False
        return self.limit is None or self.per_unit.get((v, int(self.units[c])), 0) < self.limit

    def place(self, a: int) -> None:
        c, v = int(self.arcs.cadre[a]), int(self.arcs.village[a])
        self.free[c] = False
        self.members[v] += 1
        key = (v, int(self.units[c]))
        self.per_unit[key] = self.per_unit.get(key, 0) + 1
        self.placed.append(a)


def greedy(
    problem: StationingProblem, arcs: Arcs, units: IntArray, start: IntArray | None = None
) -> Solution:
    """The five passes of the module doc; secretaries are the best-ranked members.

    ``start`` (arcs, most important first) is placed right after the pinned cadres, skipping
    any arc that no longer fits; the passes then fill what it leaves open.
    """
    sites = arcs.sites
    teams = _Teams(
        arcs, units, problem.max_per_unit, [True] * len(sites.rank), [0] * len(sites.team_min)
    )
    for a in np.flatnonzero(arcs.pinned).tolist():
        teams.place(a)
    for a in [] if start is None else start.tolist():
        if teams.fits(a):
            teams.place(a)
    order = np.argsort(arcs.cost, kind="stable")
    rank, min_rank = sites.rank[arcs.cadre[order]], sites.min_rank[arcs.village[order]]
    heads = _place_secretaries(teams, order[(min_rank > 1) & (rank >= min_rank)])
    if problem.coverage is not Coverage.OFF:
        _place_skills(problem, teams, order)
    for a in order.tolist():
        if teams.members[arcs.village[a]] < sites.team_min[arcs.village[a]] and teams.fits(a):
            teams.place(a)
    for a in order[arcs.cost[order] < 0].tolist():
        if teams.fits(a):
            teams.place(a)
    chosen = np.array(teams.placed, dtype=np.int64)
    return Solution(chosen, designate_secretaries(arcs, chosen, np.array(heads, np.int64)))


def _place_secretaries(teams: _Teams, eligible: IntArray) -> list[int]:
    """Pass 2: the nearest cadre of sufficient rank, unless a pinned one already qualifies."""
    arcs = teams.arcs
    staffed = designate_secretaries(arcs, np.array(teams.placed, np.int64), np.empty(0, np.int64))
    has_head = set(arcs.village[staffed].tolist())
    heads: list[int] = staffed.tolist()
    for a in eligible.tolist():
        v = int(arcs.village[a])
        if v not in has_head and teams.fits(a):
            teams.place(a)
            has_head.add(v)
            heads.append(a)
    return heads


def _place_skills(problem: StationingProblem, teams: _Teams, order: IntArray) -> None:
    """Pass 3: nearest first, each cadre who covers a need still open in the village."""
    arcs = teams.arcs
    missing = [set(v.needs) for v in problem.villages]
    for a in teams.placed:
        missing[arcs.village[a]] -= problem.cadres[arcs.cadre[a]].skills
    for a in order[
        np.array([bool(m) for m in missing], dtype=np.bool_)[arcs.village[order]]
    ].tolist():
        v = int(arcs.village[a])
        skills = problem.cadres[arcs.cadre[a]].skills
        if missing[v] & skills and teams.fits(a):
            teams.place(a)
            missing[v] -= skills
