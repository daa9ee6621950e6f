"""The aid solver against brute force and a HiGHS MILP on random small instances."""

from __future__ import annotations

import importlib
from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.solvers.aid import AidObjective, AidProblem, solve
from matcher.solvers.aid import polish as aid_polish
from matcher.solvers.aid.market import Market, evaluate
from matcher.solvers.aid.pairs import eligible_pairs, quota_targets
from matcher.solvers.common.solving import SolveParams, SolveStatus
from tests.matcher.solvers.test_aid_reference import (
    aid_problems,
    brute_force,
    milp_optimum,
    result_grants,
    score_of,
    violations,
)

PARAMS = SolveParams(time_limit_s=10, reproducible=True)
EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same instances on every run and machine
    suppress_health_check=[HealthCheck.too_slow],
)

# The module, not the package's ``solve`` function that shadows it as an attribute.
aid_module = importlib.import_module("matcher.solvers.aid.solve")


def check_against(problem: AidProblem, expected: tuple[int, int] | None) -> None:
    """The solver proves the reference optimum, with feasible grants and a valid bound."""
    result = solve(problem, PARAMS)
    if expected is None:
        assert result.status is SolveStatus.INFEASIBLE
        assert result.grants == ()
        return
    grants = result_grants(result)
    assert violations(problem, grants) == []
    reach, value = score_of(problem, grants)
    assert result.status is SolveStatus.OPTIMAL
    assert result.objective == value == expected[1]
    if problem.objective is AidObjective.REACH_FIRST:
        assert reach == result.households_helped == expected[0]
    assert result.bound >= value
    assert result.gap == 0.0


@EXAMPLES
@given(aid_problems(max_households=8, max_programmes=3))
def test_solve_matches_milp_under_both_objectives(problem):
    """On random instances the solver's optimum equals HiGHS's, for NEED and REACH_FIRST."""
    for objective in AidObjective:
        instance = replace(problem, objective=objective)
        check_against(instance, milp_optimum(instance))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(aid_problems(max_households=3, max_programmes=2))
def test_solve_matches_brute_force(problem):
    """On tiny instances the solver's optimum equals the best of every possible grant set."""
    check_against(problem, brute_force(problem))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(aid_problems(max_households=6, max_programmes=3), st.data())
def test_any_prices_bound_the_optimum(problem, data):
    """The Lagrangian L at arbitrary prices is never below the true optimum (NEED)."""
    problem = replace(problem, objective=AidObjective.NEED)
    expected = milp_optimum(problem)
    pairs = eligible_pairs(problem)
    market = Market.of(problem, pairs, quota_targets(problem, pairs))
    prices = st.floats(0, 2_000, allow_nan=False)
    budget = np.array([data.draw(prices) for _ in problem.programmes])
    quota = np.array([data.draw(prices) for _ in problem.quotas])
    if expected is not None:
        assert evaluate(market, budget, quota).value >= expected[1] - 1e-6


@settings(max_examples=40, deadline=None, derandomize=True)
@given(aid_problems(max_households=6, max_programmes=3))
def test_polish_in_small_chunks_keeps_every_rule(problem):
    """Re-solving two pairs at a time (the large-instance path) stays feasible and no worse."""
    problem = replace(problem, objective=AidObjective.NEED)
    expected = milp_optimum(problem)
    saved = aid_module._WHOLE_MODEL_COLUMNS, aid_polish._CHUNK_COLUMNS
    aid_module._WHOLE_MODEL_COLUMNS, aid_polish._CHUNK_COLUMNS = 0, 2
    try:
        result = solve(problem, PARAMS)
    finally:
        aid_module._WHOLE_MODEL_COLUMNS, aid_polish._CHUNK_COLUMNS = saved
    grants = result_grants(result)
    assert violations(problem, grants) == []
    if expected is not None and result.grants:
        assert result.status in (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL)
        assert result.objective <= expected[1] <= result.bound
