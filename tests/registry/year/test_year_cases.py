"""Identification and exit cases through a real YearService, by sub-role keys, on both backends."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from clients.auth import open_channel
from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from fupin.registry.v1 import year_service_pb2 as ypb
from fupin.registry.v1 import year_service_pb2_grpc as ypb_grpc
from registry.access.policy import Role
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails

FAILED = grpc.StatusCode.FAILED_PRECONDITION
DENIED = grpc.StatusCode.PERMISSION_DENIED
PAST = ("2026-01-05", "2026-01-11")  # seven days, ended


@dataclass
class Offices:
    village: ypb_grpc.YearServiceStub  # 村委会: scope = the village's 12 digits
    township: ypb_grpc.YearServiceStub  # scope = its first 9 digits
    county: ypb_grpc.YearServiceStub  # scope = the county's 6 digits
    other_village: ypb_grpc.YearServiceStub
    auditor: ypb_grpc.YearServiceStub
    admin: ypb_grpc.YearServiceStub
    village_id: str
    household_id: str


@pytest.fixture
def offices(server, registry, admin_key) -> Iterator[Offices]:
    village = factories.create_village(registry)
    other = factories.create_village(registry)
    household = factories.create_household(registry, village.id)
    code = village.admin_code
    scopes = {
        "village": (Role.OFFICE, code),
        "township": (Role.OFFICE, code[:9]),
        "county": (Role.OFFICE, code[:6]),
        "other_village": (Role.OFFICE, other.admin_code),
        "auditor": (Role.AUDITOR, code[:6]),
        "admin": (Role.ADMIN, ""),
    }
    channels = []
    stubs = {}
    for name, (role, scope) in scopes.items():
        secret = admin_key if role is Role.ADMIN else server.keys.create(role, scope).secret
        channel = open_channel(f"127.0.0.1:{server.port}", api_key=secret)
        channels.append(channel)
        stubs[name] = ypb_grpc.YearServiceStub(channel)
    yield Offices(**stubs, village_id=village.id, household_id=household.id)
    for channel in channels:
        channel.close()


def propose(o: Offices, kind: int = ypb.IDENTIFICATION, reason: str = "") -> ypb.Case:
    return o.village.ProposeCase(
        ypb.ProposeCaseRequest(household_id=o.household_id, kind=kind, reason=reason)
    )


def to_notice(o: Offices, case_id: str, dates: tuple[str, str] = PAST) -> ypb.Case:
    o.village.ReviewCase(ypb.ReviewCaseRequest(case_id=case_id, approved=True, votes_for=21))
    return o.village.StartNotice(
        ypb.StartNoticeRequest(
            case_id=case_id, notice_start=dates[0], notice_end=dates[1], notice_place="村务公开栏"
        )
    )


def test_identification_runs_through_every_step_and_keeps_each(offices, registry):
    """Proposed, reviewed, on notice with a dismissed objection, approved and filed: the
    household is filed as poor, and the history names each step and who made it."""
    o = offices
    case = propose(o)
    assert case.state == ypb.PROPOSED
    to_notice(o, case.id)
    objected = o.township.RecordObjection(
        ypb.RecordObjectionRequest(case_id=case.id, objector="村民甲", text="家里有车")
    )
    objection = objected.objections[0]
    assert objection.state == ypb.OPEN
    o.county.ResolveObjection(
        ypb.ResolveObjectionRequest(
            case_id=case.id, objection_id=objection.id, upheld=False, resolution="车已报废"
        )
    )
    assert o.county.ApproveCase(ypb.ApproveCaseRequest(case_id=case.id)).state == ypb.APPROVED
    filed = o.county.FileCase(ypb.FileCaseRequest(case_id=case.id))
    assert filed.state == ypb.FILED
    assert filed.household_status == pb.IMPOVERISHED
    steps = [(s.step, s.actor, ypb.CaseState.Name(s.new_state)) for s in filed.history]
    assert steps == [
        ("propose", ypb.VILLAGE_COMMITTEE, "PROPOSED"),
        ("review", ypb.VILLAGE_COMMITTEE, "REVIEWED"),
        ("notice", ypb.VILLAGE_COMMITTEE, "ON_NOTICE"),
        ("object", ypb.TOWNSHIP, "ON_NOTICE"),
        ("resolve", ypb.COUNTY, "ON_NOTICE"),
        ("approve", ypb.COUNTY, "APPROVED"),
        ("file", ypb.COUNTY, "FILED"),
    ]
    assert filed.objections[0].state == ypb.DISMISSED
    household = registry.GetHousehold(api.GetHouseholdRequest(id=o.household_id))
    assert f"identified (case {case.id})" in [h.reason for h in household.history]
    again = rpc_fails(lambda: propose(o), FAILED)
    assert "already filed" in again.details()


def test_each_step_by_a_sub_role_that_may_not_is_permission_denied(offices):
    """The village may not approve, the county may not review, the township may not file;
    an auditor may not propose; nothing moves."""
    o = offices
    case = propose(o)
    rpc_fails(lambda: o.county.ReviewCase(ypb.ReviewCaseRequest(case_id=case.id)), DENIED)
    rpc_fails(
        lambda: o.auditor.ProposeCase(ypb.ProposeCaseRequest(household_id=o.household_id, kind=1)),
        DENIED,
    )
    to_notice(o, case.id)
    error = rpc_fails(
        lambda: o.village.ApproveCase(ypb.ApproveCaseRequest(case_id=case.id)), DENIED
    )
    assert "county" in error.details()
    o.county.ApproveCase(ypb.ApproveCaseRequest(case_id=case.id))
    rpc_fails(lambda: o.township.FileCase(ypb.FileCaseRequest(case_id=case.id)), DENIED)
    assert o.admin.GetCase(ypb.GetCaseRequest(case_id=case.id)).state == ypb.APPROVED


def test_a_step_out_of_order_is_failed_precondition_naming_the_state(offices):
    """Approving or filing a proposed case, or noticing it before review, names PROPOSED."""
    o = offices
    case = propose(o)
    for call in (
        lambda: o.county.ApproveCase(ypb.ApproveCaseRequest(case_id=case.id)),
        lambda: o.county.FileCase(ypb.FileCaseRequest(case_id=case.id)),
        lambda: o.village.StartNotice(
            ypb.StartNoticeRequest(
                case_id=case.id, notice_start=PAST[0], notice_end=PAST[1], notice_place="x"
            )
        ),
    ):
        assert "is PROPOSED" in rpc_fails(call, FAILED).details()
    assert o.admin.GetCase(ypb.GetCaseRequest(case_id=case.id)).state == ypb.PROPOSED
    assert "open" in rpc_fails(lambda: propose(o), FAILED).details()


def test_an_upheld_objection_rejects_and_a_new_case_may_follow(offices):
    """Upheld: REJECTED, and filing it names REJECTED; the household may be proposed again."""
    o = offices
    case = propose(o)
    to_notice(o, case.id)
    objected = o.village.RecordObjection(
        ypb.RecordObjectionRequest(case_id=case.id, objector="anonymous", text="收入不实")
    )
    rejected = o.township.ResolveObjection(
        ypb.ResolveObjectionRequest(
            case_id=case.id, objection_id=objected.objections[0].id, upheld=True, resolution="核实"
        )
    )
    assert rejected.state == ypb.REJECTED
    error = rpc_fails(lambda: o.county.FileCase(ypb.FileCaseRequest(case_id=case.id)), FAILED)
    assert "is REJECTED" in error.details()
    assert propose(o).state == ypb.PROPOSED


def test_a_failed_review_rejects(offices):
    o = offices
    case = propose(o)
    reviewed = o.village.ReviewCase(
        ypb.ReviewCaseRequest(case_id=case.id, approved=False, votes_for=3, votes_against=18)
    )
    assert reviewed.state == ypb.REJECTED
    assert "3 for, 18 against" in reviewed.history[-1].note


def test_approval_waits_for_the_notice_and_its_objections(offices):
    """A notice shorter than the configured days is refused; one not ended, or with an open
    objection, holds approval."""
    o = offices
    case = propose(o)
    o.village.ReviewCase(ypb.ReviewCaseRequest(case_id=case.id, approved=True))
    short = ypb.StartNoticeRequest(
        case_id=case.id, notice_start="2026-01-05", notice_end="2026-01-08", notice_place="x"
    )
    error = rpc_fails(lambda: o.village.StartNotice(short), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == ["notice_end"]
    long = ypb.StartNoticeRequest(
        case_id=case.id, notice_start="2026-01-05", notice_end="2099-01-01", notice_place="x"
    )
    o.village.StartNotice(long)
    error = rpc_fails(lambda: o.county.ApproveCase(ypb.ApproveCaseRequest(case_id=case.id)), FAILED)
    assert "until 2099-01-01" in error.details()


def test_exit_checks_the_conditions_and_lifts_out(offices, registry):
    """Income under the line and weak 三保障 sub-scores are each named; once they are met the
    exit runs through and the household is LIFTED_OUT with a history entry."""
    o = offices
    error = rpc_fails(lambda: propose(o, ypb.EXIT, "脱贫"), FAILED)
    assert "income_per_capita_fen 350000" in error.details()
    assert "indicators.housing_safety 40" in error.details()
    assert "indicators.health 50" in error.details()
    household = registry.GetHousehold(api.GetHouseholdRequest(id=o.household_id))
    household.indicators.CopyFrom(
        factories.indicators(housing_safety=90, health=80, income_per_capita_fen=900_000)
    )
    registry.UpdateHousehold(api.UpdateHouseholdRequest(household=household))
    missing = rpc_fails(lambda: propose(o, ypb.EXIT), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(missing) == ["reason"]
    case = propose(o, ypb.EXIT, "务工收入稳定")
    to_notice(o, case.id)
    o.county.ApproveCase(ypb.ApproveCaseRequest(case_id=case.id))
    filed = o.county.FileCase(ypb.FileCaseRequest(case_id=case.id))
    assert filed.household_status == pb.LIFTED_OUT
    after = registry.GetHousehold(api.GetHouseholdRequest(id=o.household_id))
    assert after.status == pb.LIFTED_OUT
    assert any("务工收入稳定" in h.reason for h in after.history)


def test_another_village_key_sees_no_case(offices):
    o = offices
    case = propose(o)
    rpc_fails(
        lambda: o.other_village.GetCase(ypb.GetCaseRequest(case_id=case.id)),
        grpc.StatusCode.NOT_FOUND,
    )
    rpc_fails(
        lambda: o.other_village.ProposeCase(
            ypb.ProposeCaseRequest(household_id=o.household_id, kind=1)
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert o.other_village.ListCases(ypb.ListCasesRequest()).cases == []
    assert [c.id for c in o.auditor.ListCases(ypb.ListCasesRequest()).cases] == [case.id]


def test_bad_requests_name_the_field_and_store_nothing(offices):
    o = offices
    for call, field in (
        (lambda: o.village.ProposeCase(ypb.ProposeCaseRequest(kind=1)), "household_id"),
        (
            lambda: o.village.ProposeCase(ypb.ProposeCaseRequest(household_id=o.household_id)),
            "kind",
        ),
        (lambda: o.village.ReviewCase(ypb.ReviewCaseRequest()), "case_id"),
        (
            lambda: o.village.StartNotice(
                ypb.StartNoticeRequest(
                    case_id="c",
                    notice_start="2026-13-01",
                    notice_end="2026-01-20",
                    notice_place="x",
                )
            ),
            "notice_start",
        ),
        (
            lambda: o.township.ResolveObjection(
                ypb.ResolveObjectionRequest(case_id="c", resolution="r")
            ),
            "objection_id",
        ),
    ):
        error = rpc_fails(call, grpc.StatusCode.INVALID_ARGUMENT)
        assert field in fields_of(error)
    assert o.admin.ListCases(ypb.ListCasesRequest()).cases == []


def test_the_public_notice_lists_sub_scores_with_masked_cards_and_names(offices, registry, channel):
    """CSV and HTML hold the households on notice, card numbers and names masked; each
    export is audited with the household it names and its county."""
    o = offices
    case = propose(o)
    to_notice(o, case.id)
    household = registry.GetHousehold(api.GetHouseholdRequest(id=o.household_id))
    csv_notice = o.township.ExportNotice(ypb.ExportNoticeRequest(village_id=o.village_id))
    assert csv_notice.households == 1
    rows = list(csv.reader(io.StringIO(csv_notice.content.decode("utf-8-sig"))))
    header, row = rows
    cells = dict(zip(header, row, strict=True))
    card = household.card_number
    assert cells["卡号 card"] == card[:4] + "*" * (len(card) - 6) + card[-2:]
    assert cells["户主 head"] == household.head_name[0] + "*" * (len(household.head_name) - 1)
    # the bundled sets: income 350,000 of 800,000 fen scores 43.75; 三保障 (15×40 + 10×70 +
    # 15×50) / 40 = 51.25; capacity (10×50 + 5×100) / 15 = 66.7
    assert cells["收入 income"] == "44"
    assert cells["三保障 housing, schooling, medical care"] == "51"
    assert cells["两不愁 food and clothing"] == "60" and cells["劳动能力 capacity"] == "67"
    assert cells["得分 score"] == str(household.score)
    page = o.auditor.ExportNotice(
        ypb.ExportNoticeRequest(village_id=o.village_id, format=ypb.NOTICE_HTML)
    )
    text = page.content.decode()
    assert page.content_type.startswith("text/html") and cells["卡号 card"] in text
    assert card not in text and household.head_name not in text
    audit_log = apb_grpc.AccessServiceStub(channel)
    events = audit_log.ListAuditEvents(
        apb.ListAuditEventsRequest(filter='rpc = "/fupin.registry.v1.YearService/ExportNotice"')
    ).events
    assert [list(e.household_ids) for e in events] == [[o.household_id]] * 2  # both exports
    county = registry.GetVillage(api.GetVillageRequest(id=o.village_id)).admin_code[:6]
    assert all(list(e.county_codes) == [county] for e in events)


def test_a_household_with_a_case_is_not_deleted(offices, registry):
    """The case keeps the household: FAILED_PRECONDITION (still referenced), nothing removed."""
    propose(offices)
    rpc_fails(
        lambda: registry.DeleteHousehold(api.DeleteHouseholdRequest(id=offices.household_id)),
        FAILED,
    )
    assert registry.GetHousehold(api.GetHouseholdRequest(id=offices.household_id)).id
