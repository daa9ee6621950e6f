"""Contracting: constraints in pairs, brute force, and an independent MILP."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

from matcher.solvers.common.solving import SolveParams, SolveStatus
from matcher.solvers.contracting import (
    DEFAULT_RANK_BALANCE_M,
    ContractCadre,
    ContractHousehold,
    ContractingProblem,
    HouseholdStatus,
    PairScores,
    UncoveredReason,
    solve,
)

PARAMS = SolveParams(time_limit_s=20, workers=1)
POOR, AT_RISK, OUT = (
    HouseholdStatus.IMPOVERISHED,
    HouseholdStatus.AT_RISK,
    HouseholdStatus.LIFTED_OUT,
)
KM = 1 / 111.2


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres, written independently of the module."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(a, 1.0)))


def cadre(
    name: str, km: float, village: str | None = None, rank: int = 1, quota: int | None = None
) -> ContractCadre:
    return ContractCadre(name, rank, village, 26 + km * KM, 107.0, quota)


def household(
    name: str, km: float, village: str = "x", causes: int = 0, status: HouseholdStatus = POOR
) -> ContractHousehold:
    return ContractHousehold(name, village, 26 + km * KM, 107.0, status, causes)


def contracted(result: object) -> dict[str, str]:
    return {c.household_id: c.cadre_id for c in result.contracts}  # type: ignore[attr-defined]


def pair_cost(h: ContractHousehold, c: ContractCadre, problem: ContractingProblem) -> int:
    """0 in the household's own village, else 1 + metres; plus the rank balance: the weight
    per effort unit and per rank below the problem's highest."""
    top = max(x.rank for x in problem.cadres)
    term = (1 + h.n_causes) * problem.rank_balance_m * (top - c.rank)
    if c.village_id == h.village_id:
        return term
    return round(haversine_m(h.lat, h.lng, c.lat, c.lng)) + 1 + term


def test_own_village_cadre_comes_first() -> None:
    """Soft: a cadre stationed in the village costs 0, even if another is nearer."""
    problem = ContractingProblem(
        (cadre("near", 0.1), cadre("own", 5, "home")), (household("h", 0, "home"),)
    )
    result = solve(problem, PARAMS)
    assert contracted(result) == {"h": "own"} and result.objective == 0
    assert result.contracts[0].same_village


def test_nearest_cadre_otherwise() -> None:
    """Soft: with no cadre in the village, the nearest one."""
    problem = ContractingProblem((cadre("far", 9), cadre("near", 2)), (household("h", 0),))
    result = solve(problem, PARAMS)
    assert contracted(result) == {"h": "near"}
    assert result.status is SolveStatus.OPTIMAL and result.gap == 0


def test_quota_satisfied_by_spreading_households() -> None:
    """Hard: rank 1 carries 5 units; two households of 3 units need two cadres."""
    problem = ContractingProblem(
        (cadre("a", 1), cadre("b", 8)), (household("h1", 0, causes=2), household("h2", 0, causes=2))
    )
    result = solve(problem, PARAMS)
    assert sorted(contracted(result).values()) == ["a", "b"]
    assert all(load.effort <= load.quota for load in result.loads)


def test_quota_violated_reports_over_quota() -> None:
    """Hard: one rank-1 cadre (5 units), two households of 3: one is left out, proven."""
    problem = ContractingProblem(
        (cadre("a", 1),), (household("h1", 0, causes=2), household("h2", 1, causes=2))
    )
    result = solve(problem, PARAMS)
    assert result.status is SolveStatus.INFEASIBLE
    assert len(result.contracts) == 1
    (left,) = result.uncovered
    assert left.reason is UncoveredReason.OVER_QUOTA


def test_household_too_big_for_every_quota_has_no_candidate() -> None:
    """Hard: effort 7 exceeds a rank-1 quota of 5: NO_CANDIDATE; the rest is still served."""
    problem = ContractingProblem(
        (cadre("a", 1),), (household("big", 0, causes=6), household("ok", 0))
    )
    result = solve(problem, PARAMS)
    assert result.status is SolveStatus.INFEASIBLE
    assert contracted(result) == {"ok": "a"}
    assert [(u.household_id, u.reason) for u in result.uncovered] == [
        ("big", UncoveredReason.NO_CANDIDATE)
    ]


def test_rank_raises_the_quota() -> None:
    """A rank-5 cadre (15 units) takes five households of 3 units."""
    households = tuple(household(f"h{i}", i * 0.1, causes=2) for i in range(5))
    result = solve(ContractingProblem((cadre("boss", 1, rank=5),), households), PARAMS)
    assert len(result.contracts) == 5 and result.loads[0].effort == 15


def test_only_poor_households_are_contracted() -> None:
    """Households lifted out of poverty need no cadre; at-risk ones do."""
    households = (household("out", 0, status=OUT), household("risk", 0, status=AT_RISK))
    result = solve(ContractingProblem((cadre("a", 1),), households), PARAMS)
    assert contracted(result) == {"risk": "a"}


def test_k_nearest_limits_the_candidates() -> None:
    """With k = 1 a household only sees its nearest cadre (plus its village's own)."""
    cadres = (cadre("near", 1), cadre("far", 5))
    households = (household("h1", 0), household("h2", 0.5))
    problem = ContractingProblem(cadres, households, quota_by_rank={1: 1}, k_nearest=1)
    result = solve(problem, PARAMS)
    assert len(result.contracts) == 1 and result.status is SolveStatus.INFEASIBLE
    wide = solve(ContractingProblem(cadres, households, quota_by_rank={1: 1}, k_nearest=2), PARAMS)
    assert len(wide.contracts) == 2


def test_rank_balance_keeps_the_nearest_cadres_as_candidates() -> None:
    """With the rank balance term a household's cheapest cadres may all be senior ones whose
    quotas cannot hold everyone (bench case c left 139 households out); its ⌈k/2⌉ nearest
    are candidates too, so the near junior cadre takes the household the seniors cannot."""
    cadres = (cadre("senior-a", 10, rank=5), cadre("senior-b", 10, rank=5), cadre("junior", 1))
    households = tuple(household(f"h{i}", 0) for i in range(3))
    problem = ContractingProblem(cadres, households, quota_by_rank={1: 5, 5: 1}, k_nearest=2)
    result = solve(problem, PARAMS)
    assert not result.uncovered and result.status is SolveStatus.OPTIMAL
    assert sorted(contracted(result).values()) == ["junior", "senior-a", "senior-b"]
    senior, junior = 10_000 + 1, 1_000 + 1 + 4 * DEFAULT_RANK_BALANCE_M  # metres + 1 + term
    assert haversine_m(26, 107, 26 + 10 * KM, 107) == pytest.approx(10_000, abs=1)
    assert result.objective == pytest.approx(2 * senior + junior, abs=3)


def test_cadre_quota_overrides_its_rank_satisfied() -> None:
    """Hard: a rank-5 cadre posted part-time carries only its own quota of 3 units: of two
    households of 3 units the farther one goes to another cadre."""
    cadres = (cadre("part", 0, rank=5, quota=3), cadre("far", 9))
    households = (household("h1", 0.1, causes=2), household("h2", 0.2, causes=2))
    result = solve(ContractingProblem(cadres, households), PARAMS)
    assert sorted(contracted(result).values()) == ["far", "part"]
    assert [(load.cadre_id, load.quota) for load in result.loads] == [("part", 3), ("far", 5)]


def test_cadre_quota_overrides_its_rank_violated() -> None:
    """Hard: a cadre whose own quota is 0 takes nobody, though its rank carries 15 units."""
    problem = ContractingProblem((cadre("new", 0, rank=5, quota=0),), (household("h", 0),))
    result = solve(problem, PARAMS)
    assert result.status is SolveStatus.INFEASIBLE and not result.contracts
    assert [u.reason for u in result.uncovered] == [UncoveredReason.NO_CANDIDATE]


def test_cadre_quota_needs_no_rank_quota() -> None:
    """A cadre with its own quota needs no quota for its rank; one without does."""
    households = (household("h", 0),)
    problem = ContractingProblem((cadre("a", 0, rank=3, quota=4),), households, quota_by_rank={})
    assert contracted(solve(problem, PARAMS)) == {"h": "a"}
    with pytest.raises(ValueError, match="rank"):
        ContractingProblem((cadre("a", 0, rank=3),), households, quota_by_rank={})
    with pytest.raises(ValueError, match=">= 0"):
        ContractingProblem((cadre("a", 0, quota=-1),), households)


def test_explicit_pair_scores() -> None:
    """Listed pairs replace distance and 1 + causes; unlisted pairs are never candidates."""
    cadres, households = (cadre("a", 0), cadre("b", 0)), (household("h1", 0), household("h2", 0))
    scores = PairScores(
        household=[0, 0, 1, 1], cadre=[0, 1, 0, 1], cost=[5, 1, 1, 5], effort=[1, 9, 9, 1]
    )
    result = solve(ContractingProblem(cadres, households, scores=scores), PARAMS)
    assert contracted(result) == {"h1": "a", "h2": "b"} and result.objective == 10
    only = PairScores(household=[1, 0], cadre=[0, 0], cost=[7, 3], effort=[1, 1])
    result = solve(ContractingProblem(cadres, households, scores=only), PARAMS)
    assert contracted(result) == {"h1": "a", "h2": "a"} and result.objective == 10


def test_quota_and_effort_at_the_int32_edge() -> None:
    """Quotas and efforts of 2**31 - 1 hold without overflow: two households of that effort
    fill two cadres of that quota exactly, and a third is over quota."""
    top = 2**31 - 1
    cadres = (cadre("a", 0, quota=top), cadre("b", 1, quota=top))
    households = tuple(household(f"h{i}", i) for i in range(3))
    n = len(households)
    scores = PairScores(
        household=np.repeat(np.arange(n), 2),
        cadre=np.tile([0, 1], n),
        cost=np.tile([1, 2], n),
        effort=np.full(2 * n, top),
    )
    result = solve(ContractingProblem(cadres, households, scores=scores), PARAMS)
    assert result.status is SolveStatus.INFEASIBLE and len(result.contracts) == 2
    assert {load.effort for load in result.loads} == {top}
    two = PairScores(
        household=[0, 0, 1, 1], cadre=[0, 1, 0, 1], cost=[1, 2, 1, 2], effort=[top] * 4
    )
    result = solve(ContractingProblem(cadres, households[:2], scores=two), PARAMS)
    assert result.status is SolveStatus.OPTIMAL and result.objective == 3


def test_invalid_problems_are_rejected() -> None:
    """Missing quota for a rank, bad scores, duplicate ids."""
    with pytest.raises(ValueError, match="rank"):
        ContractingProblem((cadre("a", 0, rank=3),), (), quota_by_rank={1: 5})
    one = ((cadre("a", 0),), (household("h", 0),))
    with pytest.raises(ValueError, match="index"):
        ContractingProblem(*one, scores=PairScores([1], [0], [0], [0]))
    with pytest.raises(ValueError, match="twice"):
        ContractingProblem(*one, scores=PairScores([0, 0], [0, 0], [0, 1], [0, 1]))
    with pytest.raises(ValueError, match=">= 0"):
        PairScores([0], [0], [-1], [0])
    with pytest.raises(ValueError, match="duplicate"):
        ContractingProblem((cadre("a", 0), cadre("a", 1)), ())


def brute_force(problem: ContractingProblem) -> int | None:
    """Least total cost over every cadre choice per poor household; None if none fits."""
    poor = [h for h in problem.households if h.status in problem.statuses]
    best = None
    for choice in itertools.product(range(len(problem.cadres)), repeat=len(poor)):
        load = [0] * len(problem.cadres)
        for h, c in zip(poor, choice, strict=True):
            load[c] += 1 + h.n_causes
        if any(load[c] > problem.quota_by_rank[x.rank] for c, x in enumerate(problem.cadres)):
            continue
        total = sum(
            pair_cost(h, problem.cadres[c], problem) for h, c in zip(poor, choice, strict=True)
        )
        best = total if best is None else min(best, total)
    return best


def random_problem(
    rng: random.Random, n_cadres: int, n_households: int, balance: int | None = None
) -> ContractingProblem:
    villages = ["v0", "v1", "v2"]
    cadres = tuple(
        ContractCadre(
            f"c{i}",
            rng.randint(1, 3),
            rng.choice([None, *villages]),
            26 + rng.uniform(0, 0.2),
            107 + rng.uniform(0, 0.2),
        )
        for i in range(n_cadres)
    )
    households = tuple(
        ContractHousehold(
            f"h{i}",
            rng.choice(villages),
            26 + rng.uniform(0, 0.2),
            107 + rng.uniform(0, 0.2),
            rng.choice([POOR, AT_RISK, OUT]),
            rng.randint(0, 3),
        )
        for i in range(n_households)
    )
    # Half the instances with the default rank balance, half with another weight or none.
    weight = rng.choice([DEFAULT_RANK_BALANCE_M, 0, 700]) if balance is None else balance
    return ContractingProblem(
        cadres, households, quota_by_rank={1: 4, 2: 6, 3: 9}, rank_balance_m=weight
    )


@pytest.mark.parametrize("seed", range(25))
def test_solve_matches_brute_force(seed: int) -> None:
    """Tiny instances (3 cadres, 6 households): the optimum over every contract choice."""
    problem = random_problem(random.Random(seed), 3, 6)
    expected = brute_force(problem)
    result = solve(problem, PARAMS)
    if expected is None:
        assert result.status is SolveStatus.INFEASIBLE and result.uncovered
    else:
        assert result.status is SolveStatus.OPTIMAL and result.objective == expected


def milp_optimum(problem: ContractingProblem) -> int | None:
    """The generalized assignment as a MILP over all pairs (no candidate limit)."""
    poor = [h for h in problem.households if h.status in problem.statuses]
    n_h, n_c = len(poor), len(problem.cadres)
    if n_h == 0:
        return 0
    cost = np.array(
        [[pair_cost(h, c, problem) for c in problem.cadres] for h in poor], dtype=float
    ).ravel()
    matrix = lil_matrix((n_h + n_c, n_h * n_c))
    for i in range(n_h):
        for j in range(n_c):
            matrix[i, i * n_c + j] = 1
            matrix[n_h + j, i * n_c + j] = 1 + poor[i].n_causes
    quota = [problem.quota_by_rank[c.rank] for c in problem.cadres]
    lower = np.array([1.0] * n_h + [0.0] * n_c)
    upper = np.array([1.0] * n_h + quota, dtype=float)
    result = milp(
        cost,
        constraints=LinearConstraint(matrix.tocsr(), lower, upper),
        bounds=Bounds(0, 1),
        integrality=np.ones(len(cost)),
        options={"mip_rel_gap": 0},
    )
    return None if result.status == 2 else round(result.fun)


@settings(max_examples=110, deadline=None)
@given(st.integers(0, 10**9), st.integers(1, 5), st.integers(0, 12))
def test_solve_matches_an_independent_milp(seed: int, n_cadres: int, n_households: int) -> None:
    """With every cadre a candidate (k ≥ cadres), CP-SAT reaches the MILP optimum."""
    problem = random_problem(random.Random(seed), n_cadres, n_households)
    expected = milp_optimum(problem)
    result = solve(problem, PARAMS)
    if expected is None:
        assert result.status is SolveStatus.INFEASIBLE
        assert result.uncovered
        return
    assert result.status is SolveStatus.OPTIMAL
    assert result.objective == expected == result.bound
    assert all(load.effort <= load.quota for load in result.loads)
    served = {c.household_id for c in result.contracts}
    assert served == {h.id for h in problem.households if h.status in problem.statuses}
