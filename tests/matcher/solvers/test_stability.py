"""Stability: blocking pairs counted independently, Gale–Shapley, the least-cost stable one."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.solvers.common.solving import SolveParams, SolveStatus
from matcher.solvers.stationing import Cadre, StationingProblem, Village
from matcher.solvers.stationing.stability import (
    StableProblem,
    blocking_pairs,
    problem_from_stationing,
    solve,
)

PARAMS = SolveParams(time_limit_s=20, workers=1)


def count_blocking(posting: dict[str, str | None], problem: StableProblem) -> int:
    """Blocking pairs by the definition, pair by pair, with list.index for preferences."""
    count = 0
    for c, villages in problem.cadre_prefs.items():
        for v in villages:
            if c not in problem.village_prefs[v] or posting.get(c) == v:
                continue
            mine = posting.get(c)
            if mine is not None and villages.index(mine) < villages.index(v):
                continue
            team = [m for m, w in posting.items() if w == v]
            ranking = problem.village_prefs[v]
            if len(team) < problem.capacity[v] or any(
                ranking.index(m) > ranking.index(c) for m in team
            ):
                count += 1
    return count


def gale_shapley(problem: StableProblem) -> dict[str, str | None]:
    """Cadre-proposing deferred acceptance, written for the test."""
    proposals = {
        c: [v for v in vs if c in problem.village_prefs[v]] for c, vs in problem.cadre_prefs.items()
    }
    held: dict[str, list[str]] = {v: [] for v in problem.village_prefs}
    free = sorted(problem.cadre_prefs)
    while free:
        c = free.pop(0)
        if not proposals[c]:
            continue
        v = proposals[c].pop(0)
        held[v] = sorted([*held[v], c], key=problem.village_prefs[v].index)
        if len(held[v]) > problem.capacity[v]:
            free.append(held[v].pop())
    posting: dict[str, str | None] = dict.fromkeys(problem.cadre_prefs)
    for v, team in held.items():
        for c in team:
            posting[c] = v
    return posting


def cost(posting: dict[str, str | None], problem: StableProblem) -> int:
    return sum(problem.cost.get((c, v), 0) for c, v in posting.items() if v is not None)


@st.composite
def problems(draw: st.DrawFn) -> StableProblem:
    """Up to 6 cadres and 3 villages, partial strict lists, 0–2 seats, costs 0–30."""
    cadres = [f"c{i}" for i in range(draw(st.integers(1, 6)))]
    villages = [f"v{j}" for j in range(draw(st.integers(1, 3)))]
    subset = lambda items: st.lists(st.sampled_from(items), unique=True)  # noqa: E731
    cadre_prefs = {c: draw(subset(villages)) for c in cadres}
    village_prefs = {v: draw(subset(cadres)) for v in villages}
    capacity = {v: draw(st.integers(0, 2)) for v in villages}
    costs = {(c, v): draw(st.integers(0, 30)) for c in cadres for v in villages}
    return StableProblem(cadre_prefs, village_prefs, capacity, costs)


def all_assignments(problem: StableProblem) -> list[dict[str, str | None]]:
    """Every assignment within acceptability and capacity (tiny instances only)."""
    options = {
        c: [None, *(v for v in vs if c in problem.village_prefs[v])]
        for c, vs in problem.cadre_prefs.items()
    }
    result = []
    for choice in itertools.product(*options.values()):
        posting = dict(zip(options, choice, strict=True))
        if all(list(posting.values()).count(v) <= q for v, q in problem.capacity.items()):
            result.append(posting)
    return result


@settings(max_examples=150, deadline=None)
@given(problems(), st.randoms(use_true_random=False))
def test_blocking_pairs_match_an_independent_count(
    problem: StableProblem, rng: random.Random
) -> None:
    """On random valid assignments the module and the definition agree."""
    posting = rng.choice(all_assignments(problem))
    found = blocking_pairs(posting, problem)
    assert len(found) == count_blocking(posting, problem) and len(set(found)) == len(found)


@settings(max_examples=150, deadline=None)
@given(problems())
def test_stable_mode_is_stable_and_no_costlier_than_gale_shapley(problem: StableProblem) -> None:
    """STABLE mode: zero blocking pairs, cost ≤ cadre-proposing Gale–Shapley's."""
    result = solve(problem, PARAMS)
    posting = dict(result.assignment)
    assert count_blocking(posting, problem) == 0 and result.blocking == 0
    baseline = gale_shapley(problem)
    assert count_blocking(baseline, problem) == 0
    assert result.objective == cost(posting, problem) <= cost(baseline, problem)


@settings(max_examples=120, deadline=None)
@given(problems())
def test_stable_mode_finds_the_least_cost_stable_assignment(problem: StableProblem) -> None:
    """Brute force over all stable assignments: OPTIMAL means the cheapest of them."""
    stable = [p for p in all_assignments(problem) if count_blocking(p, problem) == 0]
    result = solve(problem, PARAMS)
    assert result.status is SolveStatus.OPTIMAL
    assert result.objective == min(cost(p, problem) for p in stable) == result.bound


def test_a_case_where_the_cheapest_stable_one_is_not_gale_shapleys() -> None:
    """Two cadres, two villages, crossed preferences: both stable, village-optimal cheaper."""
    problem = StableProblem(
        {"a": ["x", "y"], "b": ["y", "x"]},
        {"x": ["b", "a"], "y": ["a", "b"]},
        {"x": 1, "y": 1},
        {("a", "x"): 10, ("b", "y"): 10, ("a", "y"): 1, ("b", "x"): 1},
    )
    assert gale_shapley(problem) == {"a": "x", "b": "y"}
    result = solve(problem, PARAMS)
    assert dict(result.assignment) == {"a": "y", "b": "x"} and result.objective == 2


def test_invalid_assignments_and_lists_are_rejected() -> None:
    """Unacceptable pairs, over-full villages and tied (repeated) entries raise ValueError."""
    problem = StableProblem({"a": ["x"], "b": ["x"]}, {"x": ["a", "b"]}, {"x": 1})
    with pytest.raises(ValueError, match="capacity"):
        blocking_pairs({"a": "x", "b": "x"}, problem)
    with pytest.raises(ValueError, match="acceptable"):
        blocking_pairs({"a": "y"}, problem)
    with pytest.raises(ValueError, match="repeats"):
        StableProblem({"a": ["x", "x"]}, {"x": ["a"]}, {"x": 1})


def test_preferences_from_a_stationing_problem() -> None:
    """Cadres rank by distance, villages by rank first; the result is stable."""
    villages = (Village("near", 26.0, 107.0, 1, 1), Village("far", 26.1, 107.0, 1, 1))
    cadres = (
        Cadre("junior", 1, frozenset(), "u", 26.0, 107.0, 50.0),
        Cadre("senior", 4, frozenset(), "u", 26.01, 107.0, 50.0),
    )
    problem = problem_from_stationing(StationingProblem(cadres, villages))
    assert problem.cadre_prefs["junior"] == ["near", "far"]
    assert problem.village_prefs["near"] == ["senior", "junior"]
    result = solve(problem, PARAMS)
    assert result.blocking == 0 and result.assignment["senior"] == "near"
