"""Contracting: constraints in pairs, brute force, and an independent MILP."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import coo_matrix, csr_matrix, lil_matrix

from bench.cadres import contracting_problem
from matcher.solvers.common.solving import SolveParams, SolveStatus
from matcher.solvers.contracting import (
    ContractCadre,
    ContractHousehold,
    ContractingProblem,
    HouseholdStatus,
    UncoveredReason,
    solve,
)
from matcher.solvers.contracting import bound as contracting_bound
from matcher.solvers.contracting import flow as contracting_flow
from matcher.solvers.contracting.pairs import Pairs, build_pairs

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


def pair_matrices(pairs: Pairs) -> tuple[csr_matrix, csr_matrix]:
    """Rows "one cadre per household" and "effort per cadre" over ``pairs``."""
    n_pairs, needy = len(pairs.cadre), pairs.needy
    n_cadres, column = len(pairs.sites.quota), np.arange(n_pairs)
    rows = np.searchsorted(needy, pairs.household)
    one = coo_matrix((np.ones(n_pairs), (rows, column)), (len(needy), n_pairs))
    load = coo_matrix((pairs.effort, (pairs.cadre, column)), (n_cadres, n_pairs))
    return one.tocsr(), load.tocsr()


def lp_optimum(pairs: Pairs) -> float | None:
    """The LP relaxation of the contracting model over ``pairs``, by HiGHS; None if the
    quotas cannot hold every household even fractionally."""
    one, load = pair_matrices(pairs)
    result = linprog(
        pairs.cost,
        A_ub=load,
        b_ub=pairs.sites.quota,
        A_eq=one,
        b_eq=np.ones(len(pairs.needy)),
        bounds=(0, 1),
        method="highs",
    )
    assert result.status in (0, 2)
    return float(result.fun) if result.status == 0 else None


@pytest.mark.parametrize("seed", range(8))
def test_flow_relaxation_is_the_lp_optimum(seed: int) -> None:
    """The min-cost flow in effort units has the LP's optimal value, and its x is feasible;
    no relaxation where the LP is infeasible."""
    problem = contracting_problem(12, 150, seed=seed)
    pairs = build_pairs(problem)
    relaxed, expected = contracting_flow.relaxation(pairs), lp_optimum(pairs)
    assert (relaxed is None) == (expected is None)
    if relaxed is None:
        return
    assert relaxed.value == pytest.approx(expected, rel=1e-9, abs=1e-6)
    x = relaxed.x
    assert np.all((x >= -1e-9) & (x <= 1 + 1e-9))
    per_household = np.bincount(np.searchsorted(pairs.needy, pairs.household), weights=x)
    assert np.allclose(per_household, 1.0)
    load = np.bincount(pairs.cadre, weights=x * pairs.effort, minlength=len(pairs.sites.quota))
    assert np.all(load <= pairs.sites.quota + 1e-6)
    assert relaxed.value == pytest.approx(float(pairs.cost @ x))


def test_flow_relaxation_declines_efforts_that_depend_on_the_cadre() -> None:
    problem = contracting_problem(3, 8, seed=1)
    effort = np.ones((8, 3), dtype=np.int64)
    effort[:, 0] = 2  # the same household costs cadre 0 twice the effort
    pairs = build_pairs(dataclasses.replace(problem, effort=effort))
    assert contracting_flow.relaxation(pairs) is None
    assert contracting_flow.relaxation(build_pairs(problem)) is not None


@pytest.mark.parametrize("seed", range(3))
def test_window_search_on_a_larger_instance_against_milp(seed: int) -> None:
    """40 cadres × 400 households: windows (8–24 cadres) are true parts of the problem. The
    result is feasible, its bound is at most the MILP optimum over the same pairs, and its
    objective within 0.5% of it."""
    problem = contracting_problem(40, 400, seed=seed)
    pairs = build_pairs(problem)
    expected = pairs_milp_optimum(pairs)
    result = solve(problem, SolveParams(time_limit_s=20.0, workers=2))
    assert not result.uncovered
    assert result.bound <= expected <= result.objective <= expected * 1.005
    assert all(load.effort <= load.quota for load in result.loads)


def pairs_milp_optimum(pairs: Pairs) -> int:
    """The contracting model over ``pairs`` as a MILP, by HiGHS."""
    one, load = pair_matrices(pairs)
    result = milp(
        pairs.cost,
        constraints=[LinearConstraint(one, 1, 1), LinearConstraint(load, 0, pairs.sites.quota)],
        integrality=np.ones(len(pairs.cost)),
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": 0},
    )
    assert result.status == 0
    return round(result.fun)


@pytest.mark.parametrize("seed", range(6))
def test_knapsack_relaxation_matches_brute_force(seed: int) -> None:
    """L(u) for random multipliers: Σu plus, per cadre, the best subset of its pairs within
    quota by enumeration."""
    pairs = build_pairs(contracting_problem(3, 12, seed=seed))
    rows = np.searchsorted(pairs.needy, pairs.household)
    rng = np.random.default_rng(seed)
    u = pairs.cost.max(initial=1) * rng.uniform(0, 1.5, len(pairs.needy))
    value, taken = contracting_bound._relaxation(pairs, u)
    reduced = pairs.cost - u[rows]
    expected = float(u.sum())
    for cadre, quota in enumerate(pairs.sites.quota.tolist()):
        mine = np.flatnonzero(pairs.cadre == cadre).tolist()
        best = 0.0
        for size in range(1, len(mine) + 1):
            for subset in itertools.combinations(mine, size):
                if pairs.effort[list(subset)].sum() <= quota:
                    best = min(best, float(reduced[list(subset)].sum()))
        expected += best
    assert value == pytest.approx(expected, abs=1e-6)
    load = np.bincount(pairs.cadre[taken], weights=pairs.effort[taken], minlength=3)
    assert np.all(load <= pairs.sites.quota)
    assert float(u.sum() + reduced[taken].sum()) == pytest.approx(value, abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_lagrangian_bound_lies_between_the_lp_and_the_optimum(seed: int) -> None:
    problem = contracting_problem(40, 400, seed=seed)
    pairs = build_pairs(problem)
    relaxed = contracting_flow.relaxation(pairs)
    assert relaxed is not None
    optimum = pairs_milp_optimum(pairs)
    bound = contracting_bound.lagrangian_bound(pairs, relaxed.x, 2 * optimum, 3.0)
    assert relaxed.bound <= bound <= optimum


def test_lagrangian_bound_reports_its_best_so_far(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a report after every step: the best so far, never falling, ending at the bound."""
    monkeypatch.setattr(contracting_bound, "REPORT_EVERY_S", 0.0)
    pairs = build_pairs(contracting_problem(40, 400, seed=0))
    relaxed = contracting_flow.relaxation(pairs)
    assert relaxed is not None
    reports: list[int] = []
    bound = contracting_bound.lagrangian_bound(
        pairs, relaxed.x, 2 * relaxed.bound, 3.0, reports.append
    )
    assert len(reports) > 10 and reports == sorted(reports)
    assert relaxed.bound <= reports[0] and reports[-1] <= bound


@pytest.mark.parametrize("seed", [0, 2])
def test_search_stops_within_the_gap_the_lagrangian_bound_certifies(seed: int) -> None:
    """Asked for 0.5%, the solve stops once the Lagrangian bound certifies it, where the LP
    bound could not: the bound is below HiGHS's optimum, the solution within 0.5% of it. The
    progress reports carry the better bound, each a true bound."""
    problem = contracting_problem(40, 400, seed=seed)
    pairs = build_pairs(problem)
    relaxed = contracting_flow.relaxation(pairs)
    assert relaxed is not None
    optimum = pairs_milp_optimum(pairs)
    reports: list[tuple[float, float, float]] = []
    params = SolveParams(
        time_limit_s=20,
        workers=2,
        relative_gap=0.005,
        progress=lambda value, bound, seconds: reports.append((value, bound, seconds)),
    )
    result = solve(problem, params)
    assert relaxed.bound < result.bound <= optimum <= result.objective
    assert all(bound <= optimum <= value for value, bound, _ in reports)
    assert relaxed.bound < max(bound for _, bound, _ in reports) <= result.bound
    assert result.objective <= result.bound * 1.005 and result.gap <= 0.005
    assert result.objective > relaxed.bound * 1.005  # the LP bound alone leaves it short
