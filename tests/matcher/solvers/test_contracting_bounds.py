"""Contracting's relaxations and bounds against HiGHS: the flow LP, the Lagrangian bound, and
the search that stops once the bound certifies the gap; the local moves against enumeration."""

from __future__ import annotations

import dataclasses
import itertools
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import coo_matrix, csr_matrix

from bench.cadres import contracting_problem
from matcher.solvers.common.solving import SolveParams
from matcher.solvers.contracting import (
    ContractCadre,
    ContractHousehold,
    ContractingProblem,
    HouseholdStatus,
    PairScores,
    moves,
    solve,
)
from matcher.solvers.contracting import bound as contracting_bound
from matcher.solvers.contracting import flow as contracting_flow
from matcher.solvers.contracting.greedy import greedy, repair
from matcher.solvers.contracting.pairs import Pairs, build_pairs


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
    base = build_pairs(problem)
    effort = np.where(base.cadre == 0, 2, 1)  # the same household costs cadre 0 twice the effort
    scores = PairScores(base.household, base.cadre, base.cost, effort)
    pairs = build_pairs(dataclasses.replace(problem, scores=scores))
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
    # The cost of HiGHS's solution rounded to 0/1, in integers: its `fun` carries the MILP's
    # feasibility tolerance (1e-6 of a pair's cost per pair, about 15 at these costs).
    return int(pairs.cost @ np.rint(result.x).astype(np.int64))


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
    # at least the LP's value less the bound's rounding margin (1e-6 of it: a busy machine may
    # stop the steps before they pass the LP), at most the optimum
    assert relaxed.bound - (1e-6 * relaxed.value + 1) <= bound <= optimum


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
    # the first report is the LP's value, less the bound's safety margin for rounding (1e-6
    # of the value: 15 at the rank-balanced costs of these instances)
    margin = 1e-6 * relaxed.value + 1
    assert relaxed.bound - margin <= reports[0] and reports[-1] <= bound


@pytest.mark.parametrize("seed", [0, 2])
def test_search_stops_within_the_gap_the_lagrangian_bound_certifies(seed: int) -> None:
    """Asked for 0.5%, the solve stops once the Lagrangian bound certifies it, where the LP
    bound could not: the bound is below HiGHS's optimum, the solution within 0.5% of it. The
    progress reports carry the better bound, each a true bound. Without the rank balance
    term: with it, the LP bound of these instances is within 0.001% of the Lagrangian one."""
    problem = dataclasses.replace(contracting_problem(40, 400, seed=seed), rank_balance_m=0)
    pairs = build_pairs(problem)
    relaxed = contracting_flow.relaxation(pairs)
    assert relaxed is not None
    optimum = pairs_milp_optimum(pairs)
    reports: list[tuple[float, float, float]] = []
    params = SolveParams(
        time_limit_s=60,  # it stops once certified: the limit is for a loaded machine
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


Scored = list[tuple[int, int, int, int]]  # (household, cadre, cost, effort)


def scored_problem(quotas: list[int], n_households: int, listed: Scored) -> ContractingProblem:
    """Cadres with their own quotas and households that may take only the listed pairs."""
    cadres = tuple(ContractCadre(f"c{i}", 1, None, 26.0, 107.0, q) for i, q in enumerate(quotas))
    households = tuple(
        ContractHousehold(f"h{i}", "v", 26.0, 107.0, HouseholdStatus.IMPOVERISHED, 0)
        for i in range(n_households)
    )
    h, c, cost, effort = (np.array(column, dtype=np.int64) for column in zip(*listed, strict=True))
    return ContractingProblem(cadres, households, scores=PairScores(h, c, cost, effort))


def polished(problem: ContractingProblem, start: dict[int, int]) -> dict[int, int]:
    """Household → cadre after moves to a local optimum from ``start`` (household → cadre)."""
    pairs = build_pairs(problem)
    chosen = np.array(
        [np.flatnonzero((pairs.household == h) & (pairs.cadre == c))[0] for h, c in start.items()],
        dtype=np.int64,
    )
    out = moves.improve(pairs, chosen, 10.0, -1)
    return dict(zip(pairs.household[out].tolist(), pairs.cadre[out].tolist(), strict=True))


def test_shift_to_a_cadre_with_quota_left() -> None:
    problem = scored_problem([5, 5], 1, [(0, 0, 10, 2), (0, 1, 3, 2)])
    assert polished(problem, {0: 0}) == {0: 1}


def test_shift_blocked_by_the_quota() -> None:
    """Cadre 1 (quota 3) holds household 1 (effort 2): household 0 (effort 2) cannot join."""
    problem = scored_problem([5, 3], 2, [(0, 0, 10, 2), (0, 1, 3, 2), (1, 1, 0, 2)])
    assert polished(problem, {0: 0, 1: 1}) == {0: 0, 1: 1}


def test_swap_of_two_households_on_full_cadres() -> None:
    listed = [(0, 0, 10, 2), (0, 1, 1, 2), (1, 0, 1, 2), (1, 1, 10, 2)]
    assert polished(scored_problem([2, 2], 2, listed), {0: 0, 1: 1}) == {0: 1, 1: 0}


def test_ejection_makes_room_by_moving_a_household_on() -> None:
    """Household 0 takes cadre 1 (-9), whose household 1 moves on to cadre 2 (+1)."""
    listed = [(0, 0, 10, 2), (0, 1, 1, 2), (1, 1, 5, 2), (1, 2, 6, 2)]
    assert polished(scored_problem([2, 2, 2], 2, listed), {0: 0, 1: 1}) == {0: 1, 1: 2}


def improving_move(
    quotas: list[int], listed: dict[tuple[int, int], tuple[int, int]], at: dict[int, int]
) -> tuple[int, ...] | None:
    """A shift, swap or ejection that lowers the cost within the quotas, by enumeration."""
    load = [0] * len(quotas)
    for h, c in at.items():
        load[c] += listed[h, c][1]

    def gain(changes: list[tuple[int, int]]) -> int | None:
        """The cost change of re-assigning each (household, cadre) at once, None if not
        allowed."""
        new_load, delta = list(load), 0
        for h, c in changes:
            if (h, c) not in listed:
                return None
            new_load[at[h]] -= listed[h, at[h]][1]
            new_load[c] += listed[h, c][1]
            delta += listed[h, c][0] - listed[h, at[h]][0]
        return delta if all(x <= q for x, q in zip(new_load, quotas, strict=True)) else None

    households, cadres = list(at), range(len(quotas))
    for h, b in itertools.product(households, cadres):
        if b != at[h] and (d := gain([(h, b)])) is not None and d < 0:
            return (h, b)
        for h2 in (x for x in households if at[x] == b and b != at[h]):
            for c in cadres:
                if c != b and (d := gain([(h, b), (h2, c)])) is not None and d < 0:
                    return (h, b, h2, c)
    return None


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10**9), st.integers(2, 4), st.integers(1, 7))
def test_moves_keep_the_constraints_and_end_at_a_local_optimum(
    seed: int, n_cadres: int, n_households: int
) -> None:
    """Random scored instances from a feasible cover: every household keeps one listed pair,
    no quota is exceeded, the cost never rises, it stays at or above the optimum over every
    choice, and no shift, swap or ejection (by enumeration) improves the end."""
    rng = random.Random(seed)
    start = {h: rng.randrange(n_cadres) for h in range(n_households)}
    listed = {
        (h, c): (rng.randint(0, 50), rng.randint(1, 3))
        for h in range(n_households)
        for c in range(n_cadres)
        if c == start[h] or rng.random() < 0.7
    }
    quotas = [
        sum(listed[h, c][1] for h in start if start[h] == c) + rng.randint(0, 3)
        for c in range(n_cadres)
    ]
    items = [(h, c, cost, effort) for (h, c), (cost, effort) in listed.items()]
    end = polished(scored_problem(quotas, n_households, items), start)
    assert sorted(end) == list(range(n_households)) and all(
        (h, c) in listed for h, c in end.items()
    )
    load = [sum(listed[h, c][1] for h, c in end.items() if c == x) for x in range(n_cadres)]
    assert all(x <= q for x, q in zip(load, quotas, strict=True))
    cost = sum(listed[h, c][0] for h, c in end.items())
    assert cost <= sum(listed[h, c][0] for h, c in start.items())
    options = [[c for c in range(n_cadres) if (h, c) in listed] for h in range(n_households)]
    best = min(
        sum(listed[h, c][0] for h, c in enumerate(choice))
        for choice in itertools.product(*options)
        if all(
            sum(listed[h, c][1] for h, c in enumerate(choice) if c == x) <= quotas[x]
            for x in range(n_cadres)
        )
    )
    assert best <= cost
    assert improving_move(quotas, listed, end) is None


@pytest.mark.parametrize("seed", range(4))
def test_moves_on_a_rank_balanced_instance(seed: int) -> None:
    """40 cadres × 400 households with the rank balance term, from the greedy cover: loads
    within quota recomputed from the problem, cost never higher, never below HiGHS's
    optimum, and a target met is where the moves stop."""
    problem = contracting_problem(40, 400, seed=seed)
    pairs = build_pairs(problem)
    start = repair(pairs, greedy(pairs))
    before = int(pairs.cost[start].sum())
    out = moves.improve(pairs, start, 20.0, -1)
    assert sorted(pairs.household[out].tolist()) == pairs.needy.tolist()
    quota = [c.quota or problem.quota_by_rank[c.rank] for c in problem.cadres]
    load = [0] * len(quota)
    for h, c in zip(pairs.household[out].tolist(), pairs.cadre[out].tolist(), strict=True):
        load[c] += 1 + problem.households[h].n_causes
    assert all(x <= q for x, q in zip(load, quota, strict=True))
    after = int(pairs.cost[out].sum())
    assert pairs_milp_optimum(pairs) <= after < before
    target = (before + after) // 2
    stopped = moves.improve(pairs, start, 20.0, target)
    assert after <= int(pairs.cost[stopped].sum()) <= target
