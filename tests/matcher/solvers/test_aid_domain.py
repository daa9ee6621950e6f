"""Validation of aid problems and the value of a grant."""

from __future__ import annotations

from typing import Any

import pytest

from matcher.solvers.aid import (
    VALUE_SCALE,
    AidHousehold,
    AidProblem,
    AidProgramme,
    HouseholdStatus,
    NeedConfig,
    Quota,
)

HOUSEHOLD: dict[str, Any] = {
    "id": "h1",
    "village_code": "522427001001",
    "county_code": "522427",
    "status": HouseholdStatus.IMPOVERISHED,
    "score": 30,
    "causes": frozenset({"illness"}),
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"village_code": "5224270010"}, "village_code"),
        ({"county_code": "52242"}, "county_code"),
        ({"county_code": "520422"}, "village_code"),
        ({"status": "POOR"}, "status"),
        ({"score": 101}, "score"),
        ({"causes": frozenset({"bad_luck"})}, "causes"),
        ({"id": ""}, "id"),
    ],
)
def test_household_validation_names_the_field(change, field):
    """A bad household field raises ValueError starting with that field's name."""
    with pytest.raises(ValueError, match=rf"^{field}:"):
        AidHousehold(**{**HOUSEHOLD, **change})


def test_household_status_may_be_given_as_a_string():
    """A status string from the wire becomes the enum."""
    household = AidHousehold(**{**HOUSEHOLD, "status": "AT_RISK"})
    assert household.status is HouseholdStatus.AT_RISK


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"budget_fen": -1, "amount_fen": 100}, "budget_fen"),
        ({"budget_fen": 100}, "amount_fen"),
        ({"budget_fen": 100, "amount_fen": 100, "step_fen": 10}, "amount_fen"),
        (
            {"budget_fen": 100, "min_amount_fen": 0, "max_amount_fen": 10, "step_fen": 5},
            "min_amount_fen",
        ),
        (
            {"budget_fen": 100, "min_amount_fen": 10, "max_amount_fen": 5, "step_fen": 5},
            "max_amount_fen",
        ),
        (
            {"budget_fen": 100, "min_amount_fen": 10, "max_amount_fen": 25, "step_fen": 10},
            "step_fen",
        ),
        (
            {"budget_fen": 100, "min_amount_fen": 10_000, "max_amount_fen": 20_000, "step_fen": 1},
            "step_fen",
        ),
        ({"budget_fen": 100, "amount_fen": 100, "statuses": frozenset()}, "statuses"),
        ({"budget_fen": 100, "amount_fen": 100, "region_prefix": "52x"}, "region_prefix"),
        ({"budget_fen": 100, "amount_fen": 100, "causes": frozenset({"x"})}, "causes"),
    ],
)
def test_programme_validation_names_the_field(fields, field):
    """A bad programme field raises ValueError starting with that field's name."""
    with pytest.raises(ValueError, match=rf"^{field}:"):
        AidProgramme(id="p", **fields)


def test_problem_validation_names_the_field():
    """Duplicate ids, unknown programmes in groups and quotas, and a bad cap are rejected."""
    household = AidHousehold(**HOUSEHOLD)
    programme = AidProgramme("p", 100, 50)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"households": (household, household)}, r"^households\[1\]\.id:"),
        ({"exclusive_groups": (frozenset({"p", "q"}),)}, r"^exclusive_groups\[0\]:"),
        ({"household_cap_fen": 0}, r"^household_cap_fen:"),
        ({"quotas": (Quota("q", "522427", 100),)}, r"^quotas\[0\]\.programme_id:"),
    ]
    for change, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            AidProblem(**{"households": (household,), "programmes": (programme,), **change})


def test_quota_and_need_validation_name_the_field():
    """A share beyond 1000 permille and all-zero weights are rejected."""
    with pytest.raises(ValueError, match=r"^min_share_permille:"):
        Quota("p", "522427", 1001)
    with pytest.raises(ValueError, match=r"^base_weight:"):
        NeedConfig(0, 0)


def test_need_combines_poverty_and_matched_causes():
    """need = base × (100 − score) + per cause × causes matched."""
    assert NeedConfig(base_weight=2, per_cause_weight=10).need(score=30, causes_matched=2) == 160


def test_fixed_grant_is_worth_its_full_scale():
    """A fixed grant's value is need × VALUE_SCALE."""
    assert AidProgramme("p", 1000, 300).value(7, 300) == 7 * VALUE_SCALE


def test_ranged_value_increases_with_diminishing_steps():
    """Each step adds value, but less per fen than the minimum grant did."""
    programme = AidProgramme("p", 10_000, min_amount_fen=100, max_amount_fen=500, step_fen=100)
    values = [programme.value(1, a) for a in (100, 200, 300, 400, 500)]
    assert values == sorted(values) and len(set(values)) == 5
    assert values[0] / 100 > (values[1] - values[0]) / 100
    assert values[-1] == pytest.approx(VALUE_SCALE, rel=1e-3)
