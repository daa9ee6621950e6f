"""The aid solve end to end on the demo instances: time limits, reproducibility, progress."""

from __future__ import annotations

import time

from matcher.solvers.aid import AidObjective, greedy, solve
from matcher.solvers.aid.demo import demo_problem
from matcher.solvers.common.solving import SolveParams, SolveStatus
from tests.matcher.solvers.test_aid_reference import result_grants, violations

SOLVED = (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL)


def test_tiny_time_limit_on_a_large_instance_still_returns_a_solution():
    """20,000 households with 0.3 s: a feasible solution, FEASIBLE, and no exception."""
    problem = demo_problem(20_000, 10, seed=3)
    started = time.perf_counter()
    result = solve(problem, SolveParams(time_limit_s=0.3))
    assert time.perf_counter() - started < 15  # building is not interruptible, solving is
    assert result.status in SOLVED
    assert result.grants
    assert violations(problem, result_grants(result)) == []
    assert result.objective <= result.bound


def test_tiny_time_limit_on_the_whole_model_still_returns_a_solution():
    """A model small enough for whole-model CP-SAT, 0.05 s: the start comes back, FEASIBLE."""
    problem = demo_problem(3_000, 8, seed=4)
    result = solve(problem, SolveParams(time_limit_s=0.05))
    assert result.status in SOLVED
    assert violations(problem, result_grants(result)) == []


def test_reproducible_mode_gives_identical_results_twice():
    """Same input and seed, one worker: the same grants, objective and bound."""
    problem = demo_problem(400, 6, seed=2)
    params = SolveParams(time_limit_s=20, reproducible=True, seed=7)
    first, second = solve(problem, params), solve(problem, params)
    assert first.grants == second.grants
    assert (first.objective, first.bound, first.status) == (
        second.objective,
        second.bound,
        second.status,
    )


def test_progress_reports_objective_bound_and_elapsed_time():
    """The callback sees improving objectives, never above their bound."""
    seen: list[tuple[float, float, float]] = []
    problem = demo_problem(600, 6, seed=5)
    result = solve(problem, SolveParams(time_limit_s=10, progress=lambda *a: seen.append(a)))
    assert seen
    assert all(objective <= bound + 1e-6 for objective, bound, _ in seen)
    assert [elapsed for _, _, elapsed in seen] == sorted(elapsed for _, _, elapsed in seen)
    assert seen[-1][0] <= result.objective


def test_solve_beats_the_greedy_and_keeps_every_rule():
    """On a demo instance CP-SAT's allocation is feasible and worth more than the greedy's."""
    problem = demo_problem(1_500, 10, seed=6)
    baseline = greedy(problem)
    result = solve(problem, SolveParams(time_limit_s=10))
    assert baseline.status in SOLVED and result.status in SOLVED
    assert violations(problem, result_grants(baseline)) == []
    assert violations(problem, result_grants(result)) == []
    assert result.objective > baseline.objective
    assert result.gap < 0.01


def test_reach_first_helps_at_least_as_many_households_as_need():
    """REACH_FIRST never helps fewer households than NEED on the same instance."""
    problem = demo_problem(300, 6, seed=8)
    params = SolveParams(time_limit_s=10, reproducible=True)
    need = solve(problem, params)
    reach = solve(demo_problem(300, 6, seed=8, objective=AidObjective.REACH_FIRST), params)
    assert reach.status is SolveStatus.OPTIMAL
    assert reach.households_helped >= need.households_helped
    assert reach.objective <= need.objective


def test_result_accounts_for_every_eligible_pair_and_budget():
    """Grants plus left-out pairs cover the eligible pairs; spent plus remaining is the budget."""
    problem = demo_problem(500, 10, seed=9)
    result = solve(problem, SolveParams(time_limit_s=10))
    budgets = {p.id: p.budget_fen for p in problem.programmes}
    spent = {u.programme_id: u.spent_fen for u in result.programmes}
    for usage in result.programmes:
        assert usage.spent_fen + usage.remaining_fen == budgets[usage.programme_id]
    assert spent == {
        p: sum(g.amount_fen for g in result.grants if g.programme_id == p) for p in budgets
    }
    granted = {(g.household_id, g.programme_id) for g in result.grants}
    missing = {(o.household_id, o.programme_id) for o in result.left_out}
    assert not granted & missing
    assert result.timings.build_s > 0 and result.timings.solve_s > 0
