"""The annual re-survey through YearService: diff by card number, dry run, all or nothing."""

from __future__ import annotations

import grpc
import pytest

from clients.auth import open_channel
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from fupin.registry.v1 import year_service_pb2 as ypb
from fupin.registry.v1 import year_service_pb2_grpc as ypb_grpc
from registry.access.policy import Role
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails


@pytest.fixture
def year(channel):
    return ypb_grpc.YearServiceStub(channel)


@pytest.fixture
def county(registry):
    """A village with three households: one will change, one not, one go unsurveyed."""
    village = factories.create_village(registry)
    stored = [factories.create_household(registry, village.id) for _ in range(3)]
    return village, stored


def survey(village, stored, *, region, dry_run=False, extra_rows=()):
    changed, same, _missing = stored
    rows = [
        factories.household(
            village.id,
            card_number=changed.card_number,
            head_name=changed.head_name,
            indicators=factories.indicators(income_per_capita_fen=900_000),
        ),
        factories.household(village.id, card_number=same.card_number, head_name=same.head_name),
        factories.household(village.id, card_number="NEW-0001", head_name="新户"),
        *extra_rows,
    ]
    first = ypb.ResurveyRequest(year=2027, region_code=region, dry_run=dry_run)
    return [
        first,
        ypb.ResurveyRequest(households=rows[:2]),
        ypb.ResurveyRequest(households=rows[2:]),
    ]


def test_a_dry_run_shows_the_diff_and_writes_nothing(year, registry, county):
    village, stored = county
    result = year.ResurveyHouseholds(
        iter(survey(village, stored, region=village.admin_code[:6], dry_run=True))
    )
    counts = (result.households, result.updated, result.unchanged, result.added, result.missing)
    assert counts == (3, 1, 1, 1, 1)
    assert [(c.card_number, c.field, c.old_value, c.new_value) for c in result.first_changes] == [
        (stored[0].card_number, "income_per_capita_fen", "350000", "900000")
    ]
    assert list(result.missing_card_numbers) == [stored[2].card_number]
    assert result.resurvey_id == ""
    after = registry.GetHousehold(api.GetHouseholdRequest(id=stored[0].id))
    assert after.indicators.income_per_capita_fen == 350_000 and after.etag == stored[0].etag
    listed = registry.ListHouseholds(api.ListHouseholdsRequest()).households
    assert len(listed) == 3
    assert year.ListCases(ypb.ListCasesRequest()).cases == []


def test_a_commit_updates_adds_into_the_workflow_and_flags(year, registry, county):
    """The changed household is re-scored with a history entry; the new one is stored with a
    PROPOSED identification case; the unsurveyed one stays (flagged)."""
    village, stored = county
    result = year.ResurveyHouseholds(iter(survey(village, stored, region=village.admin_code)))
    assert (result.updated, result.added, result.missing) == (1, 1, 1) and result.resurvey_id
    changed = registry.GetHousehold(api.GetHouseholdRequest(id=stored[0].id))
    assert changed.indicators.income_per_capita_fen == 900_000
    assert changed.score > stored[0].score and changed.previous_score == stored[0].score
    assert changed.history[-1].reason == "re-survey 2027: income_per_capita_fen"
    assert changed.etag != stored[0].etag
    assert registry.GetHousehold(api.GetHouseholdRequest(id=stored[1].id)).etag == stored[1].etag
    assert registry.GetHousehold(api.GetHouseholdRequest(id=stored[2].id)).id == stored[2].id
    cases = year.ListCases(ypb.ListCasesRequest()).cases
    assert [(c.kind, c.state) for c in cases] == [(ypb.IDENTIFICATION, ypb.PROPOSED)]
    new = registry.GetHousehold(api.GetHouseholdRequest(id=cases[0].household_id))
    assert new.card_number == "NEW-0001" and dict(new.set_scores)
    again = year.ResurveyHouseholds(
        iter(survey(village, stored, region=village.admin_code, dry_run=True))
    )
    assert (again.updated, again.unchanged, again.added) == (0, 3, 0)


def test_one_bad_row_rejects_the_survey(year, registry, county):
    """A card twice and a village outside the region: each named; nothing stored."""
    village, stored = county
    other = factories.create_village(registry, admin_code="350625001001")
    extra = (
        factories.household(village.id, card_number="NEW-0001"),
        factories.household(other.id, card_number="NEW-0002"),
    )
    error = rpc_fails(
        lambda: year.ResurveyHouseholds(
            iter(survey(village, stored, region=village.admin_code[:6], extra_rows=extra))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["households[3].card_number", "households[4].village_id"]
    assert registry.GetHousehold(api.GetHouseholdRequest(id=stored[0].id)).etag == stored[0].etag
    assert year.ListCases(ypb.ListCasesRequest()).cases == []
    bad = [ypb.ResurveyRequest(year=1999)]
    error = rpc_fails(lambda: year.ResurveyHouseholds(iter(bad)), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == ["region_code", "year"]


def test_a_region_outside_the_key_is_permission_denied(server, county):
    village, stored = county
    secret = server.keys.create(Role.OFFICE, "350699").secret
    with open_channel(f"127.0.0.1:{server.port}", api_key=secret) as channel:
        stub = ypb_grpc.YearServiceStub(channel)
        rpc_fails(
            lambda: stub.ResurveyHouseholds(iter(survey(village, stored, region="350624"))),
            grpc.StatusCode.PERMISSION_DENIED,
        )


RICH = {"housing_safety": 100, "food_security": 100, "children_schooling": 100, "health": 100}
POOR = {"housing_safety": 0, "food_security": 0, "children_schooling": 0, "health": 0}


def test_a_household_lifted_out_before_that_falls_has_returned(year, registry):
    """Falling below the line: lifted out now or at any time before -> RETURNED_TO_POVERTY;
    never lifted out -> IMPOVERISHED (only the falling households' history is read)."""
    village = factories.create_village(registry)
    rich = factories.indicators(income_per_capita_fen=5_000_000, **RICH)
    poor = factories.indicators(income_per_capita_fen=0, disability=0, **POOR)
    lifted_now = factories.create_household(registry, village.id, indicators=rich)
    lifted_once = factories.create_household(registry, village.id, indicators=rich)
    middle = factories.indicators(income_per_capita_fen=1_500_000)
    never = factories.create_household(registry, village.id, indicators=middle)
    assert lifted_now.status == lifted_once.status == pb.LIFTED_OUT
    assert never.status == pb.AT_RISK
    lifted_once.indicators.CopyFrom(middle)
    lifted_once = registry.UpdateHousehold(
        api.UpdateHouseholdRequest(household=lifted_once, update_mask={"paths": ["indicators"]})
    )
    assert lifted_once.status not in (pb.LIFTED_OUT, pb.IMPOVERISHED)
    rows = [
        factories.household(
            village.id, card_number=h.card_number, head_name=h.head_name, indicators=poor
        )
        for h in (lifted_now, lifted_once, never)
    ]
    chunks = [ypb.ResurveyRequest(year=2027, region_code=village.admin_code, households=rows)]
    assert year.ResurveyHouseholds(iter(chunks)).status_changes == 3
    statuses = [
        registry.GetHousehold(api.GetHouseholdRequest(id=h.id)).status
        for h in (lifted_now, lifted_once, never)
    ]
    assert statuses == [pb.RETURNED_TO_POVERTY, pb.RETURNED_TO_POVERTY, pb.IMPOVERISHED]
