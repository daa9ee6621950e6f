"""The contracting result: the chosen pairs measured as contracts, cadre loads and the
households left uncovered, with the bound and gap."""

from __future__ import annotations

import numpy as np

from matcher.solvers.common.fairness import rank_loads
from matcher.solvers.common.solving import SolveStatus, Timings, relative_gap
from matcher.solvers.common.sparse import IntArray
from matcher.solvers.contracting.pairs import Pairs, distance_m
from matcher.solvers.contracting.problem import (
    CadreLoad,
    Contract,
    ContractingProblem,
    ContractingResult,
    Uncovered,
    UncoveredReason,
)


def left_out(pairs: Pairs, chosen: IntArray) -> IntArray:
    return np.setdiff1d(pairs.needy, pairs.household[chosen])


def build_result(
    problem: ContractingProblem,
    pairs: Pairs,
    chosen: IntArray,
    status: SolveStatus,
    bound: int,
    timings: Timings,
) -> ContractingResult:
    """Measure ``chosen``; a household without a candidate makes the status INFEASIBLE."""
    over_quota = left_out(pairs, chosen)
    if len(pairs.hopeless):
        status = SolveStatus.INFEASIBLE
    objective = int(pairs.cost[chosen].sum())
    bound = max(min(bound, objective), 0) if not len(over_quota) else 0
    households = problem.households
    loads = _loads(problem, pairs, chosen)
    needing = len(pairs.needy) + len(pairs.hopeless)
    uncovered = [
        Uncovered(households[i].id, UncoveredReason.NO_CANDIDATE) for i in pairs.hopeless.tolist()
    ] + [Uncovered(households[i].id, UncoveredReason.OVER_QUOTA) for i in over_quota.tolist()]
    return ContractingResult(
        status=status,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        timings=timings,
        contracts=_contracts(problem, pairs, chosen),
        uncovered=tuple(sorted(uncovered, key=lambda u: u.household_id)),
        loads=loads,
        rank_loads=rank_loads(
            [c.rank for c in problem.cadres], [x.effort for x in loads], [x.quota for x in loads]
        ),
        coverage=len(chosen) / needing if needing else 1.0,
        rank_cost=int((pairs.effort[chosen] * pairs.sites.rank_cost[pairs.cadre[chosen]]).sum()),
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
