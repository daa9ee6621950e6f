"""The exact path: stationing as a CP-SAT model (coverage, secretary rank, unit limits).

Variables, in proto order:

- ``x[a]`` per arc (unique pairs): the cadre is posted there; fixed to 1 for a pinned cadre;
- ``s[e]`` per arc to a village asking for rank > 1 whose cadre has it: first secretary;
- ``h[r]`` per village asking for rank or with ``team_min`` ≥ 1: no qualifying secretary;
- ``short[k]`` per village with ``team_min`` > 0: members missing below it (0..team_min);
- ``u[k]`` per (village, need) pair under SOFT coverage: nobody in the team covers the need.

Villages asking for no rank get their secretary afterwards (the best-ranked member), as any
member qualifies. The greedy solution (``greedy``) is the start and CP-SAT's hint;
``common.sparse_search`` adds the LP bound, LP rounding (greedy from the LP's postings) and
reduced-cost fixing. If nothing better is found in time, the start is returned (FEASIBLE)
whenever it meets the hard rules.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from matcher.solvers.common.solving import SolveParams, SolveStatus, Timings
from matcher.solvers.common.sparse import INT_MAX, SparseModel, Terms
from matcher.solvers.common.sparse_search import solve_sparse
from matcher.solvers.stationing.arcs import Arcs, FloatArray, IntArray
from matcher.solvers.stationing.greedy import greedy, unit_codes
from matcher.solvers.stationing.needs import Needs, find_needs, uncoverable
from matcher.solvers.stationing.problem import Coverage, StationingProblem, StationingResult
from matcher.solvers.stationing.result import (
    Solution,
    build_result,
    designate_secretaries,
    empty_result,
    uncovered_needs,
)


@dataclass(frozen=True)
class Layout:
    """Where each kind of variable starts in the proto, and what each one stands for."""

    arcs: Arcs
    needs: Needs
    secretary_arc: IntArray  # s[e] → arc
    head_village: IntArray  # h[r] → village
    short_village: IntArray  # short[k] → village
    s0: int
    h0: int
    short0: int
    u0: int  # u[k] exists under SOFT coverage only


def build_model(
    problem: StationingProblem, arcs: Arcs, units: IntArray, needs: Needs
) -> tuple[SparseModel, Layout]:
    """Variables, the hard constraints in priority order, then the objective."""
    sites = arcs.sites
    model = SparseModel()
    v_min = sites.min_rank[arcs.village]
    secretary_arc = np.flatnonzero((v_min > 1) & (sites.rank[arcs.cadre] >= v_min))
    head_village = np.flatnonzero((sites.min_rank > 1) | (sites.team_min > 0))
    short_village = np.flatnonzero(sites.team_min > 0)
    soft = problem.coverage is Coverage.SOFT
    n_arcs = len(arcs)
    model.add_variables(arcs.pinned.astype(np.int64), np.ones(n_arcs, np.int64))
    s0 = model.add_variables(*_bools(len(secretary_arc)))
    h0 = model.add_variables(*_bools(len(head_village)))
    short0 = model.add_variables(
        np.zeros(len(short_village), np.int64), sites.team_min[short_village]
    )
    u0 = model.add_variables(*_bools(len(needs.village) if soft else 0))
    layout = Layout(arcs, needs, secretary_arc, head_village, short_village, s0, h0, short0, u0)
    add_one_village_per_cadre(model, layout)
    add_team_size(model, layout)
    add_secretary(model, layout)
    add_unit_limit(model, layout, units, problem.max_per_unit)
    add_coverage(model, layout, soft)
    minimise_cost(model, layout, problem, soft)
    model.offset = arcs.continuity_offset
    return model, layout


def add_one_village_per_cadre(model: SparseModel, layout: Layout) -> None:
    """Hard: each cadre serves in at most one village."""
    model.add_at_most_one(layout.arcs.cadre, np.arange(len(layout.arcs), dtype=np.int64))


def add_team_size(model: SparseModel, layout: Layout) -> None:
    """Hard: a team never exceeds team_max. Members plus shortage reach team_min."""
    arcs, sites = layout.arcs, layout.arcs.sites
    x = np.flatnonzero(sites.team_min[arcs.village] > 0)
    short = layout.short0 + np.arange(len(layout.short_village), dtype=np.int64)
    terms = _concat((arcs.village[x], x, _ones(x)), (layout.short_village, short, _ones(short)))
    model.add_rows(terms, sites.team_min, np.full(len(sites.team_min), INT_MAX))
    crowded = np.bincount(arcs.village, minlength=len(sites.team_max)) > sites.team_max
    over = np.flatnonzero(crowded[arcs.village])
    model.add_rows(
        (arcs.village[over], over, _ones(over)),
        np.zeros_like(sites.team_max),
        sites.team_max,
    )


def add_secretary(model: SparseModel, layout: Layout) -> None:
    """Hard: the first secretary is a member of sufficient rank, at most one per village.

    Every village with team_min ≥ 1, and any staffed village, lacking one sets h (penalised):
    Σs + h = 1 where rank is asked and team_min ≥ 1, team_max·(Σs + h) ≥ members where
    team_min = 0, and members + h ≥ 1 where any member qualifies. The equality is what keeps
    the LP bound tight: a third of a senior cadre no longer passes for a secretary.
    """
    arcs, sites = layout.arcs, layout.arcs.sites
    e = np.arange(len(layout.secretary_arc), dtype=np.int64)
    s = layout.s0 + e
    model.add_rows(
        _concat((e, s, _ones(e)), (e, layout.secretary_arc, -_ones(e))),
        np.full(len(e), -1),
        np.zeros(len(e), np.int64),
    )
    model.add_at_most_one(arcs.village[layout.secretary_arc], s)
    n_villages = len(sites.team_min)
    h = np.full(n_villages, -1, dtype=np.int64)
    h[layout.head_village] = layout.h0 + np.arange(len(layout.head_village))
    ranked, staffed = sites.min_rank > 1, sites.team_min > 0
    lower = np.where(ranked & ~staffed, 0, 1)
    upper = np.where(ranked & staffed, 1, INT_MAX)
    size = np.where(ranked & ~staffed, sites.team_max, 1)
    s_village = arcs.village[layout.secretary_arc]
    members = np.flatnonzero(ranked[arcs.village] != staffed[arcs.village])
    m_village = arcs.village[members]
    m_coeff = np.where(ranked[m_village], -1, 1)  # -members (team_min = 0) or +members
    terms = _concat(
        (s_village, s, size[s_village]),
        (layout.head_village, h[layout.head_village], size[layout.head_village]),
        (m_village, members, m_coeff),
    )
    model.add_rows(terms, lower, upper)


def add_unit_limit(model: SparseModel, layout: Layout, units: IntArray, limit: int | None) -> None:
    """Hard: at most ``max_per_unit`` cadres of one home unit in a village."""
    if limit is None:
        return
    arcs = layout.arcs
    raw = arcs.village * (int(units.max(initial=0)) + 1) + units[arcs.cadre]
    _, key = np.unique(raw, return_inverse=True)
    busy = np.flatnonzero(np.bincount(key)[key] > limit)
    bounds = np.full(int(key.max(initial=0)) + 1, limit, dtype=np.int64)
    model.add_rows((key[busy], busy, _ones(busy)), np.zeros_like(bounds), bounds)


def add_coverage(model: SparseModel, layout: Layout, soft: bool) -> None:
    """Hard (HARD coverage): some member has each skill the village needs.
    Soft (SOFT coverage): an uncovered need sets u, weighted in the objective."""
    needs = layout.needs
    terms = (needs.pair, needs.arc, _ones(needs.arc))
    if soft:
        k = np.arange(len(needs.village), dtype=np.int64)
        terms = _concat(terms, (k, layout.u0 + k, _ones(k)))
    count = len(needs.village)
    model.add_rows(terms, np.ones(count, np.int64), np.full(count, INT_MAX))


def minimise_cost(
    model: SparseModel, layout: Layout, problem: StationingProblem, soft: bool
) -> None:
    """Soft: distance less continuity bonus, shortage, missing secretaries, uncovered needs."""
    n_u = len(layout.needs.village) if soft else 0
    variables = np.arange(layout.u0 + n_u, dtype=np.int64)
    coeffs = np.concatenate(
        [
            layout.arcs.cost,
            np.zeros(len(layout.secretary_arc), np.int64),
            np.full(len(layout.head_village), problem.secretary_penalty),
            np.full(len(layout.short_village), problem.shortage_penalty),
            np.full(n_u, problem.coverage_weight),
        ]
    ).astype(np.int64)
    keep = coeffs != 0
    model.minimise(variables[keep], coeffs[keep])


def values_of(layout: Layout, problem: StationingProblem, solution: Solution) -> IntArray:
    """The proto variable values that encode ``solution``."""
    arcs, sites = layout.arcs, layout.arcs.sites
    x = np.zeros(len(arcs), dtype=np.int64)
    x[solution.chosen] = 1
    s = np.isin(layout.secretary_arc, solution.secretary).astype(np.int64)
    members = np.bincount(arcs.village[solution.chosen], minlength=len(sites.team_min))
    headed = np.zeros(len(sites.team_min), dtype=np.bool_)
    headed[arcs.village[layout.secretary_arc[s == 1]]] = True
    headless = ((sites.team_min > 0) | (members > 0)) & ~headed
    h = headless[layout.head_village].astype(np.int64)
    short = np.maximum(sites.team_min - members, 0)[layout.short_village]
    open_needs = set(uncovered_needs(problem, arcs, solution.chosen))
    ids = [problem.villages[j].id for j in layout.needs.village.tolist()]
    u = np.array(
        [(i, t) in open_needs for i, t in zip(ids, layout.needs.tag, strict=True)], np.int64
    )
    parts = [x, s, h, short] + ([u] if problem.coverage is Coverage.SOFT else [])
    return np.concatenate(parts).astype(np.int64)


def solve_exact(
    problem: StationingProblem, arcs: Arcs, params: SolveParams, timings: Timings
) -> StationingResult:
    """Build the model, start from greedy, solve (``common.sparse``), decode."""
    started = time.perf_counter() - timings.load_s
    with timings.measure("build"):
        arcs = arcs.unique()
        needs = find_needs(problem, arcs)
        hopeless = uncoverable(problem, needs)
        if hopeless and problem.coverage is Coverage.HARD:
            return empty_result(SolveStatus.INFEASIBLE, timings, uncovered=hopeless)
        units = unit_codes(problem)
        model, layout = build_model(problem, arcs, units, needs)
        start = _encode(problem, layout, greedy(problem, arcs, units))

    def rounding(x: FloatArray) -> IntArray | None:
        order = np.lexsort((arcs.cost, -x[: len(arcs)]))
        taken = order[x[order] > 0.5]  # the LP's postings, surest first
        return _encode(problem, layout, greedy(problem, arcs, units, taken))

    with timings.measure("solve"):
        outcome = solve_sparse(model, start, rounding, params, started)
        if outcome.values is None:
            return empty_result(outcome.status, timings)
        return build_result(
            problem,
            arcs,
            _decode(layout, outcome.values),
            status=outcome.status,
            bound=max(outcome.bound, 0),  # every term of the objective is >= 0
            timings=timings,
            fast_path=False,
        )


def _encode(problem: StationingProblem, layout: Layout, solution: Solution) -> IntArray | None:
    """The model's values for ``solution``, or None if it misses a HARD need."""
    if problem.coverage is Coverage.HARD and uncovered_needs(problem, layout.arcs, solution.chosen):
        return None
    return values_of(layout, problem, solution)


def _decode(layout: Layout, values: IntArray) -> Solution:
    arcs = layout.arcs
    chosen = np.flatnonzero(values[: len(arcs)] == 1)
    heads = layout.secretary_arc[values[layout.s0 : layout.h0] == 1]
    return Solution(chosen, designate_secretaries(arcs, chosen, heads))


def _bools(count: int) -> tuple[IntArray, IntArray]:
    return np.zeros(count, np.int64), np.ones(count, np.int64)


def _ones(like: IntArray) -> IntArray:
    return np.ones(len(like), dtype=np.int64)


def _concat(*parts: Terms) -> Terms:
    key, var, coeff = zip(*parts, strict=True)
    return np.concatenate(key), np.concatenate(var), np.concatenate(coeff)
