"""Cadres → households (结对帮扶): each poor household contracted to one cadre, within quotas.

A generalized assignment problem:

- Hard: every household whose status is in ``statuses`` (impoverished, at risk, returned to
  poverty by default) gets exactly one cadre; a cadre's households add up to at most the quota
  of the cadre's rank, in effort units (``quota_by_rank``); a household's effort is 1 + its
  number of causes of poverty unless an ``effort`` matrix says otherwise.
- Soft: cost, 0 for a cadre stationed in the household's own village, else 1 + the distance in
  metres (the village's own cadres first, then the nearest), unless a ``cost`` matrix says
  otherwise.

The default quotas {1: 5, 2: 8, 3: 10, 4: 12, 5: 15} effort units let a 科员 (rank 1) carry
about two households of two causes and a 正处 (rank 5) five: the usual 1–5 households per
cadre, higher ranks carrying more. Pass ``quota_by_rank`` to change them.

Each household considers only its ``k_nearest`` cheapest cadres that can take it, plus every
cadre stationed in its village (``contracting_pairs``): about 400,000 pairs for 2,000 cadres ×
20,000 households. The model is solved by ``stationing_search.solve_sparse``: the LP bound
and its rounding (the LP as a min-cost flow, ``contracting_flow``, GLOP where that does not
apply), then window search (``contracting_lns``) for the time left, then CP-SAT on the whole
model if time remains. Meanwhile a Lagrangian bound (``contracting_bound``) runs on a thread
of its own; the better of the two bounds is reported, with the gap.

Infeasibility is reported per household. One that no candidate can take is NO_CANDIDATE.
When the quotas cannot hold everyone, a first phase maximises the households covered (CP-SAT,
same pipeline); those it leaves out are OVER_QUOTA, the status is INFEASIBLE when that is
proven and UNKNOWN otherwise, and the contracts cover everyone else.
"""

from __future__ import annotations

import time

import numpy as np

from matcher.solvers.common.solving import SolveParams, SolveStatus, Timings, relative_gap
from matcher.solvers.common.sparse import FloatArray, IntArray, Relaxation, SparseModel
from matcher.solvers.common.sparse_search import Improve, Outcome, Rounding, solve_sparse
from matcher.solvers.contracting import bound as contracting_bound
from matcher.solvers.contracting import flow as contracting_flow
from matcher.solvers.contracting import search as contracting_lns
from matcher.solvers.contracting.pairs import Pairs, build_pairs, distance_m, greedy, repair
from matcher.solvers.contracting.problem import (
    DEFAULT_QUOTA_BY_RANK,
    POOR,
    CadreLoad,
    Contract,
    ContractCadre,
    ContractHousehold,
    ContractingProblem,
    ContractingResult,
    HouseholdStatus,
    Uncovered,
    UncoveredReason,
)

# Of the time left after the LP and its rounding, the window search's share: all of it. At
# 400,000 pairs CP-SAT on the whole model improved nothing in 14 s while windows kept gaining
# to the end; on small models the windows settle in well under the time and stop, and CP-SAT
# then proves the result with what is left.
IMPROVE_SHARE = 1.0
# Of the time left once a full cover is known, at most how long the Lagrangian bound may run
# before the search (it stops when its steps converge). At 2,000 × 20,000 it converged at
# +0.62% over the LP bound in 7 s alone; the LP bound cannot certify 1% there (docs/cadres.md).
LAGRANGIAN_SHARE = 0.25

__all__ = [
    "DEFAULT_QUOTA_BY_RANK",
    "POOR",
    "CadreLoad",
    "Contract",
    "ContractCadre",
    "ContractHousehold",
    "ContractingProblem",
    "ContractingResult",
    "HouseholdStatus",
    "Uncovered",
    "UncoveredReason",
    "build_model",
    "build_pairs",
    "solve",
]


def build_model(pairs: Pairs, *, cover: bool) -> SparseModel:
    """x[p] per pair; with ``cover``, also u[i] per needy household (left uncovered) and the
    objective Σu instead of the cost."""
    model = SparseModel()
    n_pairs, n_needy = len(pairs.cadre), len(pairs.needy)
    model.add_variables(np.zeros(n_pairs, np.int64), np.ones(n_pairs, np.int64))
    if cover:
        model.add_variables(np.zeros(n_needy, np.int64), np.ones(n_needy, np.int64))
    add_one_cadre_per_household(model, pairs, cover)
    add_quota(model, pairs)
    if cover:
        minimise_uncovered(model, pairs)
    else:
        minimise_cost(model, pairs)
    return model


def add_one_cadre_per_household(model: SparseModel, pairs: Pairs, cover: bool) -> None:
    """Hard: each poor household gets exactly one cadre (in the cover phase: or u = 1)."""
    row = pairs.row
    literal = np.arange(len(pairs.cadre), dtype=np.int64)
    if cover:
        n_needy = len(pairs.needy)
        row = np.concatenate([row, np.arange(n_needy, dtype=np.int64)])
        literal = np.concatenate([literal, len(pairs.cadre) + np.arange(n_needy, dtype=np.int64)])
    model.add_exactly_one(row, literal)


def add_quota(model: SparseModel, pairs: Pairs) -> None:
    """Hard: a cadre's households add up to at most the quota of the cadre's rank (a row only
    where the candidates could exceed it)."""
    quota = pairs.sites.quota
    load = np.bincount(pairs.cadre, weights=pairs.effort, minlength=len(quota))
    tight = np.flatnonzero(load[pairs.cadre] > quota[pairs.cadre])
    terms = (pairs.cadre[tight], tight, pairs.effort[tight])
    model.add_rows(terms, np.zeros_like(quota), quota)


def minimise_cost(model: SparseModel, pairs: Pairs) -> None:
    """Soft: the cost of every contract."""
    model.minimise(np.arange(len(pairs.cadre), dtype=np.int64), pairs.cost)


def minimise_uncovered(model: SparseModel, pairs: Pairs) -> None:
    """Soft (cover phase only): the number of households left without a cadre."""
    n_needy = len(pairs.needy)
    model.minimise(
        len(pairs.cadre) + np.arange(n_needy, dtype=np.int64), np.ones(n_needy, np.int64)
    )


def solve(problem: ContractingProblem, params: SolveParams | None = None) -> ContractingResult:
    """Contract every poor household to a cadre within quotas, at least cost (module doc)."""
    params = params or SolveParams()
    started = time.perf_counter()
    timings = Timings()
    with timings.measure("load"):
        pairs = build_pairs(problem)
    with timings.measure("build"):
        start = greedy(pairs)
        if len(_left_out(pairs, start)):
            start = repair(pairs, start)
    with timings.measure("solve"):
        cover = None
        if len(_left_out(pairs, start)):
            cover = _cover(pairs, start, params, started)
            start = cover.values if cover.values is not None else start
        if len(_left_out(pairs, start)):
            return _result(problem, pairs, start, _cover_status(cover), 0, timings)
    with timings.measure("build"):
        model = build_model(pairs, cover=False)
    with timings.measure("solve"):
        lp = contracting_flow.relaxation(pairs)
        lagrangian = _lagrangian(pairs, lp, start, params, started)
        outcome = solve_sparse(
            model,
            _values(pairs, start),
            _rounding(pairs),
            params,
            started,
            _improve(pairs, params),
            lp=lp,
            bound=lagrangian,
            improve_share=IMPROVE_SHARE,
        )
        values = outcome.values if outcome.values is not None else _values(pairs, start)
        chosen = np.flatnonzero(values[: len(pairs.cadre)])
        objective = int(pairs.cost[chosen].sum())
        status = SolveStatus.OPTIMAL if outcome.bound >= objective else outcome.status
        return _result(problem, pairs, chosen, status, outcome.bound, timings)


def _lagrangian(
    pairs: Pairs, lp: Relaxation | None, start: IntArray, params: SolveParams, started: float
) -> int | None:
    """The Lagrangian bound (``contracting_bound``), before the search so that the search can
    stop once it is within the caller's gap of it, in at most LAGRANGIAN_SHARE of the time
    left. None without a flow relaxation, for a reproducible solve (its iterations could
    depend on the clock) or when the start is within the caller's gap of the LP bound."""
    upper = int(pairs.cost[start].sum())
    if lp is None or params.reproducible or relative_gap(upper, lp.bound) <= params.relative_gap:
        return None
    seconds = (params.time_limit_s - (time.perf_counter() - started)) * LAGRANGIAN_SHARE
    report = None
    if params.progress is not None:
        progress = params.progress

        def report(bound: int) -> None:
            progress(upper, max(bound, lp.bound), time.perf_counter() - started)

    return contracting_bound.lagrangian_bound(pairs, lp.x, upper, seconds, report)


def _cover(pairs: Pairs, start: IntArray, params: SolveParams, started: float) -> Outcome:
    """The cover phase: as many households covered as the quotas allow, within half the time
    left (it stops as soon as everyone is covered). Its ``values`` are the chosen pairs."""
    model = build_model(pairs, cover=True)
    half = SolveParams(
        time_limit_s=max(params.time_limit_s - (time.perf_counter() - started), 0.1) / 2,
        seed=params.seed,
        workers=params.workers,
        reproducible=params.reproducible,
    )
    n_pairs = len(pairs.cadre)

    def rounding(x: FloatArray) -> IntArray:
        return _with_slack(pairs, greedy(pairs, _by_value(pairs, x[:n_pairs])))

    outcome = solve_sparse(model, _with_slack(pairs, start), rounding, half, time.perf_counter())
    values = None if outcome.values is None else np.flatnonzero(outcome.values[:n_pairs])
    return Outcome(outcome.status, values, outcome.bound)


def _cover_status(cover: Outcome | None) -> SolveStatus:
    """INFEASIBLE once the cover phase proves someone must stay uncovered."""
    return SolveStatus.INFEASIBLE if cover is not None and cover.bound > 0 else SolveStatus.UNKNOWN


def _rounding(pairs: Pairs) -> Rounding:
    """The LP's assignments, surest first, then greedy for what they leave; None unless that
    covers everyone."""

    def rounding(x: FloatArray) -> IntArray | None:
        chosen = greedy(pairs, _by_value(pairs, x))
        if len(_left_out(pairs, chosen)):
            chosen = repair(pairs, chosen)
        return None if len(_left_out(pairs, chosen)) else _values(pairs, chosen)

    return rounding


def _improve(pairs: Pairs, params: SolveParams) -> Improve:
    """Window re-optimisation (``contracting_lns``) of a full cover."""

    def improve(values: IntArray, seconds: float, target: int) -> IntArray:
        better = contracting_lns.improve(pairs, np.flatnonzero(values), seconds, target, params)
        return _values(pairs, better)

    return improve


def _by_value(pairs: Pairs, x: FloatArray) -> IntArray:
    """Pairs the LP takes at least half of, surest first."""
    order = np.lexsort((pairs.cost, -x))
    taken: IntArray = order[x[order] > 0.5]
    return taken


def _values(pairs: Pairs, chosen: IntArray) -> IntArray:
    x = np.zeros(len(pairs.cadre), dtype=np.int64)
    x[chosen] = 1
    return x


def _with_slack(pairs: Pairs, chosen: IntArray) -> IntArray:
    covered = np.isin(pairs.needy, pairs.household[chosen])
    return np.concatenate([_values(pairs, chosen), (~covered).astype(np.int64)])


def _left_out(pairs: Pairs, chosen: IntArray) -> IntArray:
    return np.setdiff1d(pairs.needy, pairs.household[chosen])


def _result(
    problem: ContractingProblem,
    pairs: Pairs,
    chosen: IntArray,
    status: SolveStatus,
    bound: int,
    timings: Timings,
) -> ContractingResult:
    """Measure ``chosen``; a household without a candidate makes the status INFEASIBLE."""
    left_out = _left_out(pairs, chosen)
    if len(pairs.hopeless):
        status = SolveStatus.INFEASIBLE
    objective = int(pairs.cost[chosen].sum())
    bound = max(min(bound, objective), 0) if not len(left_out) else 0
    households = problem.households
    uncovered = [
        Uncovered(households[i].id, UncoveredReason.NO_CANDIDATE) for i in pairs.hopeless.tolist()
    ] + [Uncovered(households[i].id, UncoveredReason.OVER_QUOTA) for i in left_out.tolist()]
    return ContractingResult(
        status=status,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        timings=timings,
        contracts=_contracts(problem, pairs, chosen),
        uncovered=tuple(sorted(uncovered, key=lambda u: u.household_id)),
        loads=_loads(problem, pairs, chosen),
    )


def _contracts(problem: ContractingProblem, pairs: Pairs, chosen: IntArray) -> tuple[Contract, ...]:
    sites = pairs.sites
    h, c = pairs.household[chosen], pairs.cadre[chosen]
    same = (sites.household_village[h] == sites.cadre_village[c]).tolist()
    km = (distance_m(sites, h, c) / 1000.0).tolist()
    rows = zip(
        h.tolist(),
        c.tolist(),
        pairs.cost[chosen].tolist(),
        pairs.effort[chosen].tolist(),
        same,
        km,
        strict=True,
    )
    return tuple(
        Contract(problem.households[i].id, problem.cadres[j].id, cost, effort, s, d)
        for i, j, cost, effort, s, d in rows
    )


def _loads(problem: ContractingProblem, pairs: Pairs, chosen: IntArray) -> tuple[CadreLoad, ...]:
    n = len(problem.cadres)
    effort = np.zeros(n, dtype=np.int64)
    np.add.at(effort, pairs.cadre[chosen], pairs.effort[chosen])
    count = np.bincount(pairs.cadre[chosen], minlength=n)
    rows = zip(
        problem.cadres, pairs.sites.quota.tolist(), effort.tolist(), count.tolist(), strict=True
    )
    return tuple(CadreLoad(c.id, q, e, k) for c, q, e, k in rows)
