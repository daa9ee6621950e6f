"""Fairness in every result: rank loads, coverage, the rank balance and the aid Gini, each
recomputed here from the result's own contracts, postings or grants."""

from __future__ import annotations

from collections import defaultdict

import pytest

from matcher.solvers import contracting, stationing
from matcher.solvers.aid import solve as solve_aid
from matcher.solvers.aid.demo import demo_problem
from matcher.solvers.common.solving import SolveParams, SolveStatus
from matcher.solvers.contracting import (
    ContractCadre,
    ContractHousehold,
    ContractingProblem,
    HouseholdStatus,
)
from tests.matcher.solvers.test_contracting import milp_optimum, random_problem

PARAMS = SolveParams(time_limit_s=20, workers=1)
KM = 1 / 111.2


def gini(values: list[float]) -> float:
    """Mean absolute difference over all ordered pairs, halved and divided by the mean."""
    n = len(values)
    if n == 0 or sum(values) == 0:
        return 0.0
    mean = sum(values) / n
    return sum(abs(a - b) for a in values for b in values) / (2 * n * n * mean)


def by_rank(loads: dict[str, int], capacity: dict[str, int], rank: dict[str, int]) -> dict:
    """Per rank: (cadres, loaded, load, capacity, load share, capacity share)."""
    total_load, total_cap = sum(loads.values()), sum(capacity.values())
    out = {}
    for r in sorted(set(rank.values())):
        mine = [c for c in rank if rank[c] == r]
        load = sum(loads.get(c, 0) for c in mine)
        cap = sum(capacity[c] for c in mine)
        out[r] = (
            len(mine),
            sum(1 for c in mine if loads.get(c, 0) > 0),
            load,
            cap,
            pytest.approx(load / total_load if total_load else 0.0),
            pytest.approx(cap / total_cap if total_cap else 0.0),
        )
    return out


def reported(result: object) -> dict:
    return {
        x.rank: (x.cadres, x.loaded, x.load, x.capacity, x.load_share, x.capacity_share)
        for x in result.rank_loads  # type: ignore[attr-defined]
    }


def the_issue(balance: int) -> ContractingProblem:
    """The issue's case: a rank-1 cadre stationed in the village, two rank-5 cadres 3 and
    6 km away, five households of two effort units each."""
    cadres = (
        ContractCadre("junior", 1, "v", 26.0, 107.0),
        ContractCadre("senior-a", 5, None, 26.0 + 3 * KM, 107.0),
        ContractCadre("senior-b", 5, None, 26.0 + 6 * KM, 107.0),
    )
    households = tuple(
        ContractHousehold(f"h{i}", "v", 26.0, 107.0, HouseholdStatus.IMPOVERISHED, 1)
        for i in range(5)
    )
    quotas = {1: 10, 5: 15}  # the junior could carry all five
    return ContractingProblem(cadres, households, quota_by_rank=quotas, rank_balance_m=balance)


def test_without_the_rank_balance_the_junior_carries_everyone() -> None:
    """Violated (the issue's complaint): at distance cost only, the stationed junior takes all."""
    result = contracting.solve(the_issue(0), PARAMS)
    assert {c.cadre_id for c in result.contracts} == {"junior"}
    assert result.rank_cost == 0
    assert reported(result)[5][2] == 0  # the senior rank carries nothing


def test_rank_balance_gives_the_senior_rank_its_share() -> None:
    """Satisfied: by default the rank-5 cadres carry at least their share of the quotas."""
    problem = the_issue(contracting.DEFAULT_RANK_BALANCE_M)
    result = contracting.solve(problem, PARAMS)
    assert result.status is SolveStatus.OPTIMAL
    assert result.objective == milp_optimum(problem)
    senior = reported(result)[5]
    assert senior[4] >= senior[5]  # load share ≥ capacity share
    # the term's part of the objective, recomputed: 2 units × 5 km × 4 ranks per junior contract
    junior = sum(1 for c in result.contracts if c.cadre_id == "junior")
    assert result.rank_cost == junior * 2 * 5_000 * 4


@pytest.mark.parametrize("seed", range(12))
def test_contracting_rank_loads_and_coverage(seed: int) -> None:
    """Rank loads and coverage recomputed from the contracts, on instances the MILP checks."""
    import random

    problem = random_problem(random.Random(seed), 4, 9, balance=contracting.DEFAULT_RANK_BALANCE_M)
    result = contracting.solve(problem, PARAMS)
    if result.status is SolveStatus.OPTIMAL:
        assert result.objective == milp_optimum(problem)
    quota = {c.id: problem.quota_by_rank[c.rank] for c in problem.cadres}
    effort: dict[str, int] = defaultdict(int)
    for c in result.contracts:
        effort[c.cadre_id] += c.effort
    assert reported(result) == by_rank(effort, quota, {c.id: c.rank for c in problem.cadres})
    needing = [h for h in problem.households if h.status in problem.statuses]
    assert result.coverage == pytest.approx(len(result.contracts) / len(needing) if needing else 1)
    top = max(c.rank for c in problem.cadres)
    rank = {c.id: c.rank for c in problem.cadres}
    term = sum(
        c.effort * problem.rank_balance_m * (top - rank[c.cadre_id]) for c in result.contracts
    )
    assert result.rank_cost == term


def test_stationing_rank_loads_and_coverage() -> None:
    """Postings by rank, villages staffed to team_min and needs covered, from the postings."""
    cadres = tuple(
        stationing.Cadre(
            f"c{i}",
            1 + i % 3,
            frozenset({"health"} if i % 2 else ()),
            f"u{i}",
            26.0 + i * KM,
            107.0,
            30.0,
        )
        for i in range(7)
    )
    villages = tuple(
        stationing.Village(
            f"v{j}",
            26.0 + 3 * j * KM,
            107.0,
            team_min=2,
            team_max=2,
            needs=frozenset({"health", "water"}),
        )
        for j in range(4)
    )
    problem = stationing.StationingProblem(cadres, villages)
    result = stationing.solve(problem, PARAMS)
    rank = {c.id: c.rank for c in cadres}
    posted = {p.cadre_id: 1 for p in result.postings}
    assert reported(result) == by_rank(posted, {c: 1 for c in rank}, rank)
    members: dict[str, int] = defaultdict(int)
    for p in result.postings:
        members[p.village_id] += 1
    assert result.village_coverage == pytest.approx(
        sum(1 for v in villages if members[v.id] >= v.team_min) / len(villages)
    )
    skills = {c.id: c.skills for c in cadres}
    covered = sum(
        1
        for v in villages
        for need in v.needs
        if any(need in skills[p.cadre_id] for p in result.postings if p.village_id == v.id)
    )
    assert result.need_coverage == pytest.approx(covered / 8)
    assert 0 < result.village_coverage <= 1


def test_aid_gini_and_share_to_impoverished() -> None:
    """The Gini of the fen granted per eligible household (zeros counted) and the share of
    the fen to impoverished households, from the grants and the explained left-out pairs."""
    problem = demo_problem(120, 4, seed=3)
    result = solve_aid(problem, SolveParams(time_limit_s=10, workers=1))
    per_household: dict[str, int] = defaultdict(int)
    for g in result.grants:
        per_household[g.household_id] += g.amount_fen
    eligible = {g.household_id for g in result.grants} | {o.household_id for o in result.left_out}
    assert result.eligible_households == len(eligible)
    assert result.grant_gini == pytest.approx(gini([per_household[h] for h in eligible]))
    status = {h.id: h.status for h in problem.households}
    total = sum(per_household.values())
    poor = sum(v for h, v in per_household.items() if status[h] == "IMPOVERISHED")
    assert total > 0 and result.impoverished_share == pytest.approx(poor / total)
    assert 0 < result.grant_gini < 1
