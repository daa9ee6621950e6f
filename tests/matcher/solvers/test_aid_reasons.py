"""Every reason an eligible household is left out of a programme, each on an instance where it
is the true one, checked against the grants themselves (who got the budget, with what need)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matcher.solvers.aid import (
    AidObjective,
    AidProblem,
    AidProgramme,
    LeftOutReason,
    Quota,
    solve,
)
from matcher.solvers.aid.greedy import Assignment
from matcher.solvers.aid.pairs import eligible_pairs
from matcher.solvers.aid.result import AidResult, build_result
from matcher.solvers.common.solving import SolveParams, SolveStatus, Timings
from tests.matcher.solvers.test_aid_constraints import household

PARAMS = SolveParams(time_limit_s=5, reproducible=True)
HERE, THERE = "522427", "520422"  # two counties


def need_of(problem: AidProblem, household_id: str) -> int:
    """Need as docs/aid.md defines it, for a programme addressing every cause: base x (100 -
    score) + per cause x the household's causes (computed here, not by the solver)."""
    h = next(h for h in problem.households if h.id == household_id)
    return problem.need.base_weight * (100 - h.score) + problem.need.per_cause_weight * len(
        h.causes
    )


def reasons(result: AidResult) -> dict[tuple[str, str], LeftOutReason]:
    return {(x.household_id, x.programme_id): x.reason for x in result.left_out}


def granted(result: AidResult, programme_id: str) -> set[str]:
    return {g.household_id for g in result.grants if g.programme_id == programme_id}


def in_county(ident: str, score: int, county: str) -> object:
    return household(ident, score, village_code=f"{county}001001", county_code=county)


def test_budget_exhausted_by_higher_need():
    """Budget for two of three: the two neediest get it; the third's reason says so, and every
    grant went to a household with at least its need."""
    problem = AidProblem(
        households=(household("a", 10), household("b", 20), household("c", 40)),
        programmes=(AidProgramme("medical", 200, 100),),
    )
    result = solve(problem, PARAMS)
    assert granted(result, "medical") == {"a", "b"}
    assert reasons(result) == {("c", "medical"): LeftOutReason.BUDGET_EXHAUSTED_BY_HIGHER_NEED}
    assert all(need_of(problem, g) >= need_of(problem, "c") for g in granted(result, "medical"))


def test_regional_quota():
    """Half the budget is kept for county HERE, whose one household is the least needy: the
    second-neediest (in THERE) loses its grant to it, and is told REGIONAL_QUOTA, not that
    the budget went to greater need."""
    problem = AidProblem(
        households=(in_county("a", 10, THERE), in_county("b", 15, THERE), in_county("c", 60, HERE)),
        programmes=(AidProgramme("medical", 200, 100),),
        quotas=(Quota("medical", HERE, 500),),
    )
    result = solve(problem, PARAMS)
    assert granted(result, "medical") == {"a", "c"}
    assert reasons(result) == {("b", "medical"): LeftOutReason.REGIONAL_QUOTA}
    # independently: a grant went inside the quota's region to lesser need than b's
    assert need_of(problem, "c") < need_of(problem, "b")
    assert not problem.households[1].village_code.startswith(HERE)


def test_quota_to_greater_need_is_not_a_quota_reason():
    """The quota's region holds the neediest household: the quota takes nothing from anyone,
    and the one left out is so by higher need."""
    problem = AidProblem(
        households=(in_county("a", 10, HERE), in_county("b", 15, THERE), in_county("c", 60, THERE)),
        programmes=(AidProgramme("medical", 200, 100),),
        quotas=(Quota("medical", HERE, 500),),
    )
    result = solve(problem, PARAMS)
    assert granted(result, "medical") == {"a", "b"}
    assert reasons(result) == {("c", "medical"): LeftOutReason.BUDGET_EXHAUSTED_BY_HIGHER_NEED}


def test_budget_exhausted_from_the_start():
    """A budget smaller than one grant: no one gets it, and no one is told the budget went to
    greater need (it went nowhere)."""
    problem = AidProblem(
        households=(household("a", 10), household("b", 20)),
        programmes=(AidProgramme("medical", 50, 100),),
    )
    result = solve(problem, PARAMS)
    assert result.grants == ()
    assert set(reasons(result).values()) == {LeftOutReason.BUDGET_EXHAUSTED}


def test_budget_exhausted_by_reaching_more_households():
    """Reach first: the neediest household could take both programmes, but then one household
    is reached instead of two; so it gets the programme only it can take and the other goes
    to the less needy one. Left out of that one, with a grant of it to lesser need, it is
    told BUDGET_EXHAUSTED, not BUDGET_EXHAUSTED_BY_HIGHER_NEED."""
    problem = AidProblem(
        households=(in_county("a", 10, HERE), in_county("b", 50, THERE)),
        programmes=(
            AidProgramme("medical", 100, 100),
            AidProgramme("county", 100, 100, region_prefix=HERE),
        ),
        objective=AidObjective.REACH_FIRST,
    )
    result = solve(problem, PARAMS)
    assert (granted(result, "medical"), granted(result, "county")) == ({"b"}, {"a"})
    assert reasons(result) == {("a", "medical"): LeftOutReason.BUDGET_EXHAUSTED}
    assert need_of(problem, "b") < need_of(problem, "a")


def test_not_selected_when_room_is_left():
    """A solve that stopped before granting anyone (its first solution: no grants) leaves the
    budget whole: each household is NOT_SELECTED, for no budget, cap or rule stood in its way."""
    problem = AidProblem(
        households=(household("a", 10), household("b", 20)),
        programmes=(AidProgramme("medical", 500, 100),),
    )
    pairs = eligible_pairs(problem)
    nothing = Assignment(np.zeros(len(pairs.household), dtype=np.bool_),
                         np.zeros(len(pairs.household), dtype=np.int64))  # fmt: skip
    result = build_result(
        problem, pairs, nothing, status=SolveStatus.FEASIBLE, bound=0, timings=Timings()
    )
    assert result.programmes[0].remaining_fen == 500  # room for every household
    assert set(reasons(result).values()) == {LeftOutReason.NOT_SELECTED}


def test_excluded_and_capped_come_before_budget():
    """An exclusive group and a cap each name their own reason even when the budget is also
    spent: one grant per household, and a cap of one grant."""
    problem = AidProblem(
        households=(household("a", 10),),
        programmes=(AidProgramme("medical", 100, 100), AidProgramme("subsidy", 100, 100)),
        exclusive_groups=(frozenset({"medical", "subsidy"}),),
    )
    result = solve(problem, PARAMS)
    assert len(result.grants) == 1
    assert set(reasons(result).values()) == {LeftOutReason.EXCLUDED_BY_RULE}
    capped = AidProblem(
        households=(household("a", 10),),
        programmes=(AidProgramme("medical", 100, 100), AidProgramme("subsidy", 100, 100)),
        household_cap_fen=150,
    )
    result = solve(capped, PARAMS)
    assert len(result.grants) == 1
    assert set(reasons(result).values()) == {LeftOutReason.CAP_REACHED}


def test_every_reason_has_a_case_here():
    """The tests above cover every LeftOutReason (a new reason needs its own case)."""
    source = Path(__file__).read_text(encoding="utf-8")
    assert all(f"LeftOutReason.{r.name}" in source for r in LeftOutReason)
