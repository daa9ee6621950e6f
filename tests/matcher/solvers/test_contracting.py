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
    ContractCadre,
    ContractHousehold,
    ContractingProblem,
    HouseholdStatus,
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


def cadre(name: str, km: float, village: str | None = None, rank: int = 1) -> ContractCadre:
    return ContractCadre(name, rank, village, 26 + km * KM, 107.0)


def household(
    name: str, km: float, village: str = "x", causes: int = 0, status: HouseholdStatus = POOR
) -> ContractHousehold:
    return ContractHousehold(name, village, 26 + km * KM, 107.0, status, causes)


def contracted(result: object) -> dict[str, str]:
    return {c.household_id: c.cadre_id for c in result.contracts}  # type: ignore[attr-defined]


def pair_cost(h: ContractHousehold, c: ContractCadre) -> int:
    """0 in the household's own village, else 1 + metres."""
    if c.village_id == h.village_id:
        return 0
    return round(haversine_m(h.lat, h.lng, c.lat, c.lng)) + 1


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


def test_explicit_cost_and_effort_matrices() -> None:
    """Inline matrices replace distance and 1 + causes."""
    cadres, households = (cadre("a", 0), cadre("b", 0)), (household("h1", 0), household("h2", 0))
    cost = np.array([[5, 1], [1, 5]])
    effort = np.array([[1, 9], [9, 1]])
    result = solve(ContractingProblem(cadres, households, cost=cost, effort=effort), PARAMS)
    assert contracted(result) == {"h1": "a", "h2": "b"} and result.objective == 10


def test_invalid_problems_are_rejected() -> None:
    """Missing quota for a rank, bad matrix shape, duplicate ids."""
    with pytest.raises(ValueError, match="rank"):
        ContractingProblem((cadre("a", 0, rank=3),), (), quota_by_rank={1: 5})
    with pytest.raises(ValueError, match="matrix"):
        ContractingProblem((cadre("a", 0),), (household("h", 0),), cost=np.zeros((2, 2)))
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
        total = sum(pair_cost(h, problem.cadres[c]) for h, c in zip(poor, choice, strict=True))
        best = total if best is None else min(best, total)
    return best


def random_problem(rng: random.Random, n_cadres: int, n_households: int) -> ContractingProblem:
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
    return ContractingProblem(cadres, households, quota_by_rank={1: 4, 2: 6, 3: 9})


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
    cost = np.array([[pair_cost(h, c) for c in problem.cadres] for h in poor], dtype=float).ravel()
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
