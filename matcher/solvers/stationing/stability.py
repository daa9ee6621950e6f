"""Stable postings when cadres rank villages and villages rank cadres (STABLE mode).

This is the hospitals/residents problem with team seats. Preference lists are strict, best
first; a pair is acceptable when each lists the other. An assignment (each cadre to one
village or none, at most ``capacity[v]`` cadres in village v) has a blocking pair (c, v) when
c and v are acceptable to each other, c is not in v, c prefers v to its posting (or has none),
and v has a free seat or prefers c to one of its members. It is stable without one.

``solve`` returns the least-cost stable assignment. Its model is the stable admissions
polytope's integer form (Baïou & Balinski 2000; Roth, Rothblum & Vande Vate 1993): one
Boolean x_cv per acceptable pair, each cadre in at most one village, each village within
capacity, and for every acceptable pair (c, v)

    q_v · (x_cv + Σ_{v' ≻_c v} x_cv') + Σ_{c' ≻_v c} x_c'v ≥ q_v        (q_v = capacity[v])

which says: c is in v or somewhere it likes better, or v is full of cadres it prefers to c.
The 0/1 solutions of these constraints are exactly the stable assignments, so every
assignment returned is stable (zero blocking pairs, never "nearly" stable), and the search
ranges over all stable assignments, not only those the deferred-acceptance algorithm reaches:
with status OPTIMAL the result is the minimum-cost stable assignment; with FEASIBLE (time
limit) it is the cheapest stable one found, with the gap to a proven bound. The search starts
from the cadre-proposing Gale–Shapley assignment, so it never costs more than that one.

``problem_from_stationing`` derives preferences from a stationing problem: cadres rank the
villages within reach by distance; villages rank cadres by rank (higher first), then skills
matching their needs, then distance; pinned cadres list only their posting and head its list.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from matcher.solvers.common.solving import SolveParams, SolveStatus, Timings, relative_gap
from matcher.solvers.common.sparse import INT_MAX, FloatArray, IntArray, SparseModel, spans
from matcher.solvers.common.sparse_search import solve_sparse
from matcher.solvers.stationing.arcs import build_arcs
from matcher.solvers.stationing.problem import StationingProblem

Assignment = Mapping[str, str | None]  # cadre id → village id, or None when unposted


@dataclass(frozen=True)
class StableProblem:
    """Preferences, best first; ``cost`` per (cadre, village) pair, 0 where missing."""

    cadre_prefs: Mapping[str, Sequence[str]]
    village_prefs: Mapping[str, Sequence[str]]
    capacity: Mapping[str, int]
    cost: Mapping[tuple[str, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for who, prefs, known in (
            ("cadre", self.cadre_prefs, self.village_prefs),
            ("village", self.village_prefs, self.cadre_prefs),
        ):
            for owner, listed in prefs.items():
                if len(set(listed)) != len(listed):
                    raise ValueError(f"{who} {owner}: preference list repeats an entry (ties?)")
                if unknown := set(listed) - set(known):
                    raise ValueError(f"{who} {owner}: ranks unknown {sorted(unknown)}")
        if (
            set(self.capacity) != set(self.village_prefs)
            or min(self.capacity.values(), default=0) < 0
        ):
            raise ValueError("capacity: a non-negative number of seats for every village")

    def acceptable(self) -> list[tuple[str, str]]:
        """Pairs that list each other, in cadre order then the cadre's preference order."""
        wanted = {v: set(cs) for v, cs in self.village_prefs.items()}
        return [(c, v) for c, vs in self.cadre_prefs.items() for v in vs if c in wanted[v]]


@dataclass(frozen=True)
class StableResult:
    status: SolveStatus
    objective: int
    bound: int
    gap: float
    timings: Timings
    assignment: Mapping[str, str | None] = field(default_factory=dict)
    blocking: int = 0  # blocking pairs of the assignment, recounted (0 whenever it is stable)


def blocking_pairs(assignment: Assignment, problem: StableProblem) -> list[tuple[str, str]]:
    """Every blocking pair (cadre, village) of ``assignment``, sorted.

    Raises ValueError if the assignment posts a cadre to a village that is not acceptable to
    it or overfills a village. Cadres missing from ``assignment`` count as unposted.
    """
    members = _members(assignment, problem)
    cadre_rank = {c: {v: i for i, v in enumerate(vs)} for c, vs in problem.cadre_prefs.items()}
    village_rank = {v: {c: i for i, c in enumerate(cs)} for v, cs in problem.village_prefs.items()}
    blocking = []
    for c, v in problem.acceptable():
        posted = assignment.get(c)
        if posted == v or (posted is not None and cadre_rank[c][posted] < cadre_rank[c][v]):
            continue  # c is there already, or happier where it is
        team = members[v]
        worst = max((village_rank[v][m] for m in team), default=-1)
        if len(team) < problem.capacity[v] or worst > village_rank[v][c]:
            blocking.append((c, v))
    return sorted(blocking)


def _members(assignment: Assignment, problem: StableProblem) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {v: [] for v in problem.village_prefs}
    acceptable = set(problem.acceptable())
    for c, v in assignment.items():
        if v is None:
            continue
        if (c, v) not in acceptable:
            raise ValueError(f"cadre {c} and village {v} are not acceptable to each other")
        members[v].append(c)
        if len(members[v]) > problem.capacity[v]:
            raise ValueError(f"village {v} over capacity")
    return members


def cadre_proposing(problem: StableProblem) -> dict[str, str | None]:
    """Deferred acceptance, cadres proposing: the cadre-optimal stable assignment."""
    village_rank = {v: {c: i for i, c in enumerate(cs)} for v, cs in problem.village_prefs.items()}
    acceptable = {
        c: [v for v in vs if c in village_rank[v]] for c, vs in problem.cadre_prefs.items()
    }
    next_choice = dict.fromkeys(problem.cadre_prefs, 0)
    held: dict[str, list[str]] = {v: [] for v in problem.village_prefs}
    free = list(problem.cadre_prefs)
    while free:
        c = free.pop()
        if next_choice[c] >= len(acceptable[c]):
            continue  # c has been refused by every village it accepts
        v = acceptable[c][next_choice[c]]
        next_choice[c] += 1
        held[v].append(c)
        held[v].sort(key=village_rank[v].__getitem__)
        if len(held[v]) > problem.capacity[v]:
            free.append(held[v].pop())  # v's least preferred cadre is let go
    posting: dict[str, str | None] = dict.fromkeys(problem.cadre_prefs)
    for v, cadres in held.items():
        posting.update(dict.fromkeys(cadres, v))
    return posting


@dataclass(frozen=True)
class Pairs:
    """Acceptable pairs as arrays (cadre-major, in the cadre's order of preference)."""

    ids: list[tuple[str, str]]
    cadre: IntArray
    village: IntArray
    village_rank: IntArray  # the cadre's place in the village's list
    seats: IntArray  # capacity of the pair's village
    cost: IntArray


def build_pairs(problem: StableProblem) -> Pairs:
    ids = problem.acceptable()
    cadres = {c: i for i, c in enumerate(problem.cadre_prefs)}
    villages = {v: j for j, v in enumerate(problem.village_prefs)}
    rank = {v: {c: i for i, c in enumerate(cs)} for v, cs in problem.village_prefs.items()}
    return Pairs(
        ids,
        np.array([cadres[c] for c, _ in ids], dtype=np.int64),
        np.array([villages[v] for _, v in ids], dtype=np.int64),
        np.array([rank[v][c] for c, v in ids], dtype=np.int64),
        np.array([problem.capacity[v] for _, v in ids], dtype=np.int64),
        np.array([problem.cost.get(p, 0) for p in ids], dtype=np.int64),
    )


def build_model(pairs: Pairs) -> SparseModel:
    """x per acceptable pair; the hard constraints; the cost."""
    model = SparseModel()
    n = len(pairs.ids)
    model.add_variables(np.zeros(n, np.int64), np.ones(n, np.int64))
    add_one_village_per_cadre(model, pairs)
    add_capacity(model, pairs)
    add_stability(model, pairs)
    model.minimise(np.arange(n, dtype=np.int64), pairs.cost)
    return model


def add_one_village_per_cadre(model: SparseModel, pairs: Pairs) -> None:
    """Hard: each cadre in at most one village."""
    model.add_at_most_one(pairs.cadre, np.arange(len(pairs.ids), dtype=np.int64))


def add_capacity(model: SparseModel, pairs: Pairs) -> None:
    """Hard: at most ``capacity[v]`` cadres in village v."""
    x = np.arange(len(pairs.ids), dtype=np.int64)
    seats = np.zeros(int(pairs.village.max(initial=-1)) + 1, dtype=np.int64)
    seats[pairs.village] = pairs.seats
    model.add_rows((pairs.village, x, np.ones_like(x)), np.zeros_like(seats), seats)


def add_stability(model: SparseModel, pairs: Pairs) -> None:
    """Hard: no blocking pair. For each acceptable (c, v):
    q_v·(x_cv + Σ_{v' ≻_c v} x_cv') + Σ_{c' ≻_v c} x_c'v ≥ q_v."""
    n = len(pairs.ids)
    # Pairs are cadre-major in preference order already; for villages, sort by their ranking.
    by_cadre = np.arange(n, dtype=np.int64)
    by_village = np.lexsort((pairs.village_rank, pairs.village))
    row_c, term_c = _earlier(by_cadre, pairs.cadre[by_cadre], include_self=True)
    row_v, term_v = _earlier(by_village, pairs.village[by_village], include_self=False)
    terms = (
        np.concatenate([row_c, row_v]),
        np.concatenate([term_c, term_v]),
        np.concatenate([pairs.seats[row_c], np.ones(len(row_v), np.int64)]),
    )
    model.add_rows(terms, pairs.seats, np.full(n, INT_MAX))


def _earlier(order: IntArray, group: IntArray, *, include_self: bool) -> tuple[IntArray, IntArray]:
    """For each element of ``order`` (sorted so that ``group`` runs are contiguous), the
    elements before it in its run (and itself): (row element, term element) pairs."""
    n = len(order)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
    run_start = np.repeat(starts, np.diff(np.append(starts, n)))
    count = np.arange(n, dtype=np.int64) - run_start + (1 if include_self else 0)
    return np.repeat(order, count), order[spans(run_start, count)]


def solve(problem: StableProblem, params: SolveParams | None = None) -> StableResult:
    """The least-cost stable assignment (module doc)."""
    params = params or SolveParams()
    started = time.perf_counter()
    timings = Timings()
    with timings.measure("load"):
        pairs = build_pairs(problem)
    with timings.measure("build"):
        model = build_model(pairs)
        start = _values(pairs, cadre_proposing(problem))

    def rounding(x: FloatArray) -> IntArray | None:
        assignment = _assignment(problem, pairs, (x > 0.5).astype(np.int64))
        try:
            stable = not blocking_pairs(assignment, problem)
        except ValueError:  # over capacity: not an assignment at all
            return None
        return _values(pairs, assignment) if stable else None

    with timings.measure("solve"):
        outcome = solve_sparse(model, start, rounding, params, started)
    values = outcome.values if outcome.values is not None else start
    assignment = _assignment(problem, pairs, values)
    objective = int(pairs.cost @ values)
    bound = min(outcome.bound, objective)
    return StableResult(
        outcome.status if outcome.values is not None else SolveStatus.FEASIBLE,
        objective,
        bound,
        relative_gap(objective, bound),
        timings,
        assignment,
        len(blocking_pairs(assignment, problem)),
    )


def _values(pairs: Pairs, assignment: Assignment) -> IntArray:
    index = {p: i for i, p in enumerate(pairs.ids)}
    x = np.zeros(len(pairs.ids), dtype=np.int64)
    for c, v in assignment.items():
        if v is not None:
            x[index[c, v]] = 1
    return x


def _assignment(problem: StableProblem, pairs: Pairs, values: IntArray) -> dict[str, str | None]:
    posting: dict[str, str | None] = dict.fromkeys(problem.cadre_prefs)
    for p in np.flatnonzero(values).tolist():
        c, v = pairs.ids[p]
        posting[c] = v
    return posting


def problem_from_stationing(problem: StationingProblem) -> StableProblem:
    """Preferences from distances, ranks and skills (module doc); cost = the arc's cost."""
    arcs = build_arcs(problem).unique()
    cadres, villages = problem.cadres, problem.villages
    pinned = arcs.pinned.astype(np.int64)
    matched = np.array(
        [
            len(cadres[c].skills & villages[v].needs)
            for c, v in zip(arcs.cadre.tolist(), arcs.village.tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    by_cadre = np.lexsort((arcs.village, arcs.dist_m, arcs.cadre))
    by_village = np.lexsort(
        (arcs.cadre, arcs.dist_m, -matched, -arcs.sites.rank[arcs.cadre], -pinned, arcs.village)
    )
    cadre_prefs: dict[str, list[str]] = {c.id: [] for c in cadres}
    village_prefs: dict[str, list[str]] = {v.id: [] for v in villages}
    for a in by_cadre.tolist():
        cadre_prefs[cadres[arcs.cadre[a]].id].append(villages[arcs.village[a]].id)
    for a in by_village.tolist():
        village_prefs[villages[arcs.village[a]].id].append(cadres[arcs.cadre[a]].id)
    cost = {
        (cadres[c].id, villages[v].id): k
        for c, v, k in zip(
            arcs.cadre.tolist(), arcs.village.tolist(), arcs.cost.tolist(), strict=True
        )
    }
    capacity = {v.id: v.team_max for v in villages}
    return StableProblem(cadre_prefs, village_prefs, capacity, cost)
