"""AllocateAid over a real server: optimality against HiGHS and brute force, the rules as
satisfied/violated pairs, explanations, registry runs, commit and bad input."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import grpc
import pytest
from hypothesis import HealthCheck, given, settings

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from matcher.service import convert_aid as aid_convert
from matcher.service.aid_request import inline_request
from matcher.solvers.aid import AidObjective, AidProgramme, solve
from matcher.solvers.aid.demo import demo_problem
from tests.aidfixtures import poor_households, programme, selection_request
from tests.matcher.solvers.test_aid_reference import (
    aid_problems,
    brute_force,
    milp_optimum,
    score_of,
    two_household_problem,
    violations,
)
from tests.rpcerrors import fields_of, rpc_fails

THROUGH_SERVER = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def matcher(channel):
    return mpb_grpc.MatcherServiceStub(channel)


def allocate(matcher, request):
    request.parameters.time_limit_s = request.parameters.time_limit_s or 10
    request.parameters.reproducible = True
    return matcher.AllocateAid(request, timeout=60)


def grants_of(run):
    return {(g.household_id, g.programme_id): g.amount_fen for g in run.aid.grants}


@THROUGH_SERVER
@given(aid_problems(max_households=5, max_programmes=3))
def test_allocate_matches_milp_and_brute_force(matcher, problem):
    """On small random instances the served optimum equals HiGHS's and brute force's."""
    for objective in AidObjective:
        instance = replace(problem, objective=objective)
        expected = milp_optimum(instance)
        assert expected == brute_force(instance)
        run = allocate(matcher, inline_request(instance))
        assert run.state == mpb.PROPOSED
        if expected is None:
            assert run.status == mpb.INFEASIBLE
            continue
        grants = grants_of(run)
        assert violations(instance, grants) == []
        assert score_of(instance, grants)[1] == run.objective == expected[1]
        assert run.status == mpb.OPTIMAL


def test_budget_satisfied(matcher):
    """A budget that covers both households grants both."""
    problem = two_household_problem()
    budget = sum(p.max_fen for p in problem.programmes[:1]) * 2
    single = replace(
        problem, programmes=(replace(problem.programmes[0], budget_fen=budget),), quotas=()
    )
    run = allocate(matcher, inline_request(single))
    assert len(run.aid.grants) == 2


def test_budget_violated(matcher):
    """A budget for one grant: the neediest household gets it, the other is left out for
    budget exhausted by higher need."""
    problem = two_household_problem()
    only = replace(problem.programmes[0], budget_fen=problem.programmes[0].max_fen)
    single = replace(problem, programmes=(only,), quotas=(), exclusive_groups=())
    run = allocate(matcher, inline_request(single))
    assert len(run.aid.grants) == 1
    poorest = min(single.households, key=lambda h: h.score)
    assert run.aid.grants[0].household_id == poorest.id
    [left] = run.aid.left_out
    assert left.reason == mpb.BUDGET_EXHAUSTED_BY_HIGHER_NEED
    assert sum(g.amount_fen for g in run.aid.grants) <= only.budget_fen


def _two_programmes(exclusive: bool):
    """The two households, medical aid and a cash grant, budgets for everyone."""
    roomy = (AidProgramme("medical", 10**6, 100), AidProgramme("cash", 10**6, 300))
    groups = (frozenset(p.id for p in roomy),) if exclusive else ()
    return two_household_problem(programmes=roomy, exclusive_groups=groups)


def test_exclusivity_satisfied(matcher):
    """Without the rule a household may hold both programmes."""
    problem = _two_programmes(exclusive=False)
    run = allocate(matcher, inline_request(problem))
    held = [hid for (hid, _) in grants_of(run)]
    assert any(held.count(h) == 2 for h in held)


def test_exclusivity_violated(matcher):
    """Exclusive programmes: never both for one household; the other is EXCLUDED_BY_RULE."""
    problem = _two_programmes(exclusive=True)
    run = allocate(matcher, inline_request(problem))
    held = [hid for (hid, _) in grants_of(run)]
    assert len(held) == len(set(held))
    assert {x.reason for x in run.aid.left_out} == {mpb.EXCLUDED_BY_RULE}
    assert violations(problem, grants_of(run)) == []


def test_grants_explain_need_and_causes(registry, matcher):
    """Each grant carries its need and the causes it matched; Get returns the same run."""
    households = poor_households(registry, 3)
    medical = programme(registry, budget_fen=400_000, amount_fen=200_000)
    run = allocate(matcher, selection_request([medical.id]))
    assert run.kind == mpb.AID
    assert run.status == mpb.OPTIMAL
    assert len(run.aid.grants) == 2
    scores = {h.id: h.score for h in households}
    for g in run.aid.grants:
        assert list(g.causes_matched) == [pb.ILLNESS]
        assert g.need == (100 - scores[g.household_id]) + 10
    granted = {g.household_id for g in run.aid.grants}
    [left] = run.aid.left_out
    assert scores[left.household_id] >= max(scores[h] for h in granted)
    assert matcher.GetMatchRun(mpb.GetMatchRunRequest(id=run.id)) == run


def test_commit_spends_and_writes_the_ledger(registry, matcher, channel):
    """Commit: spent_fen grows by the grants, one ledger entry each; a retry is a no-op."""
    poor_households(registry, 3)
    medical = programme(registry, budget_fen=400_000, amount_fen=200_000)
    run = allocate(matcher, selection_request([medical.id]))
    commit = mpb.CommitMatchRunRequest(id=run.id, request_id=f"commit-{run.id}")
    committed = matcher.CommitMatchRun(commit)
    assert committed.state == mpb.COMMITTED
    assert matcher.CommitMatchRun(commit).state == mpb.COMMITTED
    stored = registry.GetAidProgram(api.GetAidProgramRequest(id=medical.id))
    assert stored.spent_fen == 400_000
    again = allocate(matcher, selection_request([medical.id]))
    assert not again.aid.grants  # nothing left in the budget
    # Spent before this run, which granted no one: not "by higher need", only exhausted.
    assert {x.reason for x in again.aid.left_out} == {mpb.BUDGET_EXHAUSTED}


def test_commit_aborts_when_the_budget_no_longer_fits(registry, matcher):
    """Two runs over one budget and the same households: the second commit is ABORTED naming
    the programme (no budget left) and each household (already granted)."""
    households = poor_households(registry, 2)
    medical = programme(registry, budget_fen=400_000, amount_fen=200_000)
    first = allocate(matcher, selection_request([medical.id]))
    second = allocate(matcher, selection_request([medical.id]))
    matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=first.id))
    error = rpc_fails(
        lambda: matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=second.id)),
        grpc.StatusCode.ABORTED,
    )
    assert fields_of(error) == [
        f"programmes[{medical.id}]",
        *sorted(f"households[{h.id}]" for h in households),
    ]
    assert matcher.GetMatchRun(mpb.GetMatchRunRequest(id=second.id)).state == mpb.PROPOSED
    stored = registry.GetAidProgram(api.GetAidProgramRequest(id=medical.id))
    assert stored.spent_fen == 400_000


def test_one_grant_per_programme_across_runs(registry, matcher):
    """Budget to spare: a household granted in a committed run is not eligible in the next
    run, and a concurrent run granting it again is ABORTED at commit naming the household."""
    households = poor_households(registry, 2)
    medical = programme(registry, budget_fen=2_000_000, amount_fen=200_000)
    first = allocate(matcher, selection_request([medical.id]))
    rival = allocate(matcher, selection_request([medical.id]))
    assert len(first.aid.grants) == len(rival.aid.grants) == 2
    matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=first.id))
    error = rpc_fails(
        lambda: matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=rival.id)),
        grpc.StatusCode.ABORTED,
    )
    assert fields_of(error) == sorted(f"households[{h.id}]" for h in households)
    after = allocate(matcher, selection_request([medical.id]))
    assert not after.aid.grants
    assert not after.aid.left_out  # nobody left eligible


def test_inline_run_cannot_be_committed(matcher):
    """A what-if run is FAILED_PRECONDITION on commit; it can be discarded."""
    run = allocate(matcher, inline_request(two_household_problem()))
    rpc_fails(
        lambda: matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    discarded = matcher.DiscardMatchRun(mpb.DiscardMatchRunRequest(id=run.id))
    assert discarded.state == mpb.DISCARDED


def test_watch_and_list_see_aid_runs(matcher):
    """An aid run is listed with kind AID and its watch ends with the run."""
    run = allocate(matcher, inline_request(two_household_problem()))
    listed = matcher.ListMatchRuns(mpb.ListMatchRunsRequest(filter="kind = AID")).runs
    assert [r.id for r in listed] == [run.id]
    events = list(matcher.WatchMatchRun(mpb.WatchMatchRunRequest(id=run.id), timeout=30))
    assert events[-1].run.aid == run.aid


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: setattr(r.inline.households[0], "score", 101), "inline.households[0].score"),
        (
            lambda r: setattr(r.inline.households[1], "village_code", "12"),
            "inline.households[1].village_code",
        ),
        (lambda r: r.inline.households[0].causes.append(99), "inline.households[0].causes"),
        (
            lambda r: setattr(r.inline.programmes[0], "budget_fen", -1),
            "inline.programmes[0].budget_fen",
        ),
        (lambda r: setattr(r.inline.programmes[0], "step_fen", 7), "inline.programmes[0].step_fen"),
        (
            lambda r: setattr(r.inline.households[1], "id", r.inline.households[0].id),
            "inline.households[1].id",
        ),
        (
            lambda r: r.rules.exclusive_groups.add(programme_ids=["nope", "none"]),
            "rules.exclusive_groups[0].programme_ids",
        ),
        (lambda r: setattr(r.rules.need, "base_weight", -3), "rules.need.base_weight"),
        (lambda r: setattr(r.parameters, "time_limit_s", -1), "parameters.time_limit_s"),
    ],
)
def test_bad_input_names_the_field(matcher, change, field):
    """Bad input is INVALID_ARGUMENT naming the field; no run is stored."""
    problem = two_household_problem(exclusive_groups=())
    request = inline_request(problem)
    if not request.inline.programmes[0].min_amount_fen:
        request.inline.programmes[0].min_amount_fen = 100
        request.inline.programmes[0].amount_fen = 200
        request.inline.programmes[0].step_fen = 50
    change(request)
    error = rpc_fails(
        lambda: matcher.AllocateAid(request, timeout=30), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert field in fields_of(error)
    assert not matcher.ListMatchRuns(mpb.ListMatchRunsRequest()).runs


def test_bad_selection_names_the_field(matcher):
    """A region code that is not digits, and a selection without programmes."""
    request = selection_request(["p-1"])
    request.selection.region_code = "35a"
    error = rpc_fails(lambda: matcher.AllocateAid(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == ["selection.region_code"]
    error = rpc_fails(
        lambda: matcher.AllocateAid(selection_request([])), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert fields_of(error) == ["selection.programme_ids"]


def test_unknown_programme_is_not_found(matcher):
    error = rpc_fails(
        lambda: matcher.AllocateAid(selection_request(["nope"]), timeout=30),
        grpc.StatusCode.NOT_FOUND,
    )
    assert fields_of(error) == ["selection.programme_ids[0]"]


def test_cancel_a_running_aid_run(matcher):
    """A long aid solve watched while RUNNING is cancelled: the run ends CANCELLED."""
    request = inline_request(demo_problem(3000, 8, seed=3), run_id="aid-cancel-1")
    request.parameters.time_limit_s = 120
    answer: dict[str, object] = {}
    caller = threading.Thread(
        target=lambda: answer.update(run=matcher.AllocateAid(request, timeout=180))
    )
    caller.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            state = matcher.GetMatchRun(mpb.GetMatchRunRequest(id="aid-cancel-1")).state
        except grpc.RpcError:
            state = None
        if state == mpb.RUNNING:
            break
        time.sleep(0.1)
    cancelled = matcher.CancelMatchRun(mpb.CancelMatchRunRequest(id="aid-cancel-1"))
    caller.join(60)
    assert cancelled.state == mpb.CANCELLED
    assert answer["run"].state == mpb.CANCELLED


def test_left_out_beyond_the_limit_are_counted():
    """A result lists at most max_left_out left-out pairs and counts the rest."""
    problem = two_household_problem(
        programmes=(AidProgramme("medical", 0, 100, causes=frozenset({"illness"})),)
    )
    result = solve(problem)
    assert len(result.left_out) == 2
    message = aid_convert.aid_result(result, inline=True, max_left_out=1)
    assert (len(message.left_out), message.left_out_omitted) == (1, 1)
