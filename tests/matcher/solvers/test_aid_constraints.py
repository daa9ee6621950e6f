"""Each hard rule of the aid model, satisfied and violated, on instances small enough to check
by hand: in the CP-SAT model (a fixed assignment is accepted or rejected) and end to end."""

from __future__ import annotations

from typing import Any

from ortools.sat.python import cp_model

from matcher.solvers.aid import (
    AidHousehold,
    AidProblem,
    AidProgramme,
    HouseholdStatus,
    LeftOutReason,
    Quota,
    solve,
)
from matcher.solvers.aid.model import build_model
from matcher.solvers.aid.pairs import eligible_pairs, quota_targets
from matcher.solvers.common.solving import SolveParams, SolveStatus
from tests.matcher.solvers.test_aid_reference import Grants, two_household_problem

PARAMS = SolveParams(time_limit_s=5, reproducible=True)
POOR, BETTER = "h-poor", "h-better"


def accepts(problem: AidProblem, grants: Grants) -> bool:
    """Whether the CP-SAT model admits exactly these grants (a pair without a variable, or an
    amount off its programme's steps, is rejected outright)."""
    pairs = eligible_pairs(problem)
    aid = build_model(problem, pairs, quota_targets(problem, pairs))
    column = {int(i): c for c, i in enumerate(aid.columns)}
    step = {int(aid.columns[t]): aid.k_base + n for n, t in enumerate(aid.top_up)}
    ids = [
        (problem.households[h].id, problem.programmes[p].id)
        for h, p in zip(pairs.household.tolist(), pairs.programme.tolist(), strict=True)
    ]
    wanted = dict(grants)
    model = aid.model
    for i, key in enumerate(ids):
        amount = wanted.pop(key, 0)
        if i not in column:
            if amount:
                return False
            continue
        model.add(model.get_bool_var_from_proto_index(column[i]) == int(amount > 0))
        if amount:
            steps, off = divmod(amount - int(pairs.min_fen[i]), int(pairs.step_fen[i]))
            if off or steps < 0 or (steps and i not in step):
                return False
            if i in step:
                model.add(model.get_int_var_from_proto_index(step[i]) == steps)
        elif i in step:
            model.add(model.get_int_var_from_proto_index(step[i]) == 0)
    if wanted:  # grants for pairs that are not eligible at all
        return False
    solver = cp_model.CpSolver()
    return solver.solve(model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)


def household(ident: str, score: int = 30, **changes: Any) -> AidHousehold:
    fields: dict[str, Any] = {
        "village_code": "522427001001",
        "county_code": "522427",
        "status": HouseholdStatus.IMPOVERISHED,
        "causes": frozenset({"illness"}),
    }
    return AidHousehold(ident, score=score, **{**fields, **changes})


def test_budget_satisfied():
    """Two grants of 100 fit a budget of 200, and both households get one."""
    problem = two_household_problem()
    assert accepts(problem, {(POOR, "medical"): 100, (BETTER, "medical"): 100})
    assert {g.household_id for g in solve(problem, PARAMS).grants} == {POOR, BETTER}


def test_budget_violated():
    """Two grants of 100 overrun a budget of 150: the poorer household gets the one grant."""
    problem = two_household_problem(programmes=(AidProgramme("medical", 150, 100),))
    assert not accepts(problem, {(POOR, "medical"): 100, (BETTER, "medical"): 100})
    result = solve(problem, PARAMS)
    assert [g.household_id for g in result.grants] == [POOR]
    assert [(o.household_id, o.reason) for o in result.left_out] == [
        (BETTER, LeftOutReason.BUDGET_EXHAUSTED_BY_HIGHER_NEED)
    ]
    assert [(u.spent_fen, u.remaining_fen) for u in result.programmes] == [(100, 50)]


def _two_programmes(**changes: Any) -> AidProblem:
    """One household eligible for medical aid and a health subsidy, 100 fen each."""
    programmes = (AidProgramme("medical", 500, 100), AidProgramme("subsidy", 500, 100))
    return AidProblem(households=(household(POOR),), programmes=programmes, **changes)


def test_exclusivity_satisfied():
    """One programme of an exclusive group is allowed."""
    problem = _two_programmes(exclusive_groups=(frozenset({"medical", "subsidy"}),))
    assert accepts(problem, {(POOR, "medical"): 100})


def test_exclusivity_violated():
    """Two programmes of an exclusive group are not; the second is explained as excluded."""
    problem = _two_programmes(exclusive_groups=(frozenset({"medical", "subsidy"}),))
    assert not accepts(problem, {(POOR, "medical"): 100, (POOR, "subsidy"): 100})
    result = solve(problem, PARAMS)
    assert len(result.grants) == 1
    assert [o.reason for o in result.left_out] == [LeftOutReason.EXCLUDED_BY_RULE]


def test_household_cap_satisfied():
    """Two grants of 100 fit a cap of 200."""
    problem = _two_programmes(household_cap_fen=200)
    assert accepts(problem, {(POOR, "medical"): 100, (POOR, "subsidy"): 100})


def test_household_cap_violated():
    """Two grants of 100 pass a cap of 150; the one left out is explained by the cap."""
    problem = _two_programmes(household_cap_fen=150)
    assert not accepts(problem, {(POOR, "medical"): 100, (POOR, "subsidy"): 100})
    result = solve(problem, PARAMS)
    assert len(result.grants) == 1
    assert [o.reason for o in result.left_out] == [LeftOutReason.CAP_REACHED]


def test_one_grant_across_runs_satisfied():
    """A programme granted before to another household does not bar this one."""
    problem = two_household_problem(held=frozenset({("someone-else", "medical")}))
    assert accepts(problem, {(POOR, "medical"): 100, (BETTER, "medical"): 100})


def test_one_grant_across_runs_violated():
    """A household that holds the programme from an earlier run gets no second grant, even
    with budget to spare, and is not listed as left out (it is not eligible)."""
    problem = two_household_problem(held=frozenset({(POOR, "medical")}))
    assert not accepts(problem, {(POOR, "medical"): 100})
    result = solve(problem, PARAMS)
    assert [(g.household_id, g.programme_id) for g in result.grants] == [(BETTER, "medical")]
    assert result.left_out == ()


def _one_household(programme: AidProgramme, **changes: Any) -> AidProblem:
    return AidProblem(households=(household(POOR, **changes),), programmes=(programme,))


def test_status_eligibility_satisfied():
    """An impoverished household may receive a programme for the impoverished."""
    programme = AidProgramme(
        "medical", 500, 100, statuses=frozenset({HouseholdStatus.IMPOVERISHED})
    )
    assert accepts(_one_household(programme), {(POOR, "medical"): 100})


def test_status_eligibility_violated():
    """A lifted-out household may not, and is not even listed as left out."""
    programme = AidProgramme(
        "medical", 500, 100, statuses=frozenset({HouseholdStatus.IMPOVERISHED})
    )
    problem = _one_household(programme, status=HouseholdStatus.LIFTED_OUT)
    assert not accepts(problem, {(POOR, "medical"): 100})
    result = solve(problem, PARAMS)
    assert result.grants == () and result.left_out == ()


def test_region_eligibility_satisfied():
    """A household in county 522427 may receive that county's programme."""
    programme = AidProgramme("medical", 500, 100, region_prefix="522427")
    assert accepts(_one_household(programme), {(POOR, "medical"): 100})


def test_region_eligibility_violated():
    """A household in county 520422 may not."""
    programme = AidProgramme("medical", 500, 100, region_prefix="522427")
    problem = _one_household(programme, village_code="520422001001", county_code="520422")
    assert not accepts(problem, {(POOR, "medical"): 100})


def test_cause_eligibility_satisfied():
    """An ill household may receive medical aid, and any programme that names no cause."""
    medical = AidProgramme("medical", 500, 100, causes=frozenset({"illness"}))
    general = AidProgramme("general", 500, 100)
    assert accepts(_one_household(medical), {(POOR, "medical"): 100})
    assert accepts(_one_household(general), {(POOR, "general"): 100})


def test_cause_eligibility_violated():
    """An ill household may not receive an education grant."""
    grant = AidProgramme("education", 500, 100, causes=frozenset({"education"}))
    assert not accepts(_one_household(grant), {(POOR, "education"): 100})


def _quota_problem() -> AidProblem:
    """Three 100 fen grants, budget 200; two poor households in 520422, one better-off in
    522427, and half the budget reserved for 522427."""
    return AidProblem(
        households=(
            household("h-a", 10, village_code="520422001001", county_code="520422"),
            household("h-b", 15, village_code="520422001002", county_code="520422"),
            household("h-c", 60),
        ),
        programmes=(AidProgramme("medical", 200, 100),),
        quotas=(Quota("medical", "522427", 500),),
    )


def test_quota_satisfied():
    """A grant in 522427 meets the quota, so the solver gives one there despite lower need."""
    problem = _quota_problem()
    assert accepts(problem, {("h-a", "medical"): 100, ("h-c", "medical"): 100})
    assert {g.household_id for g in solve(problem, PARAMS).grants} == {"h-a", "h-c"}


def test_quota_violated():
    """Both grants outside 522427 miss the quota."""
    assert not accepts(_quota_problem(), {("h-a", "medical"): 100, ("h-b", "medical"): 100})


def test_quota_beyond_the_region_capacity_asks_for_what_it_can_take():
    """A 100% quota on a region of one household asks for that household's grant only."""
    problem = AidProblem(
        households=_quota_problem().households,
        programmes=(AidProgramme("medical", 200, 100),),
        quotas=(Quota("medical", "522427", 1000),),
    )
    assert solve(problem, PARAMS).status is SolveStatus.OPTIMAL


def test_unmeetable_quotas_are_infeasible():
    """Two quotas that each take the whole budget cannot both be met."""
    problem = AidProblem(
        households=_quota_problem().households,
        programmes=(AidProgramme("medical", 100, 100),),
        quotas=(Quota("medical", "522427", 1000), Quota("medical", "520422", 1000)),
    )
    result = solve(problem, PARAMS)
    assert result.status is SolveStatus.INFEASIBLE and result.grants == ()


def test_ranged_grant_tops_up_the_neediest_first():
    """With room for one top-up step, it goes to the poorer of two households."""
    programme = AidProgramme(
        "credit",
        500,
        min_amount_fen=200,
        max_amount_fen=300,
        step_fen=100,
        causes=frozenset({"illness"}),
    )
    problem = two_household_problem(programmes=(programme,))
    amounts = {g.household_id: g.amount_fen for g in solve(problem, PARAMS).grants}
    assert amounts == {POOR: 300, BETTER: 200}
