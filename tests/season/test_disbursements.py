"""Aid after the commit: disbursed, signed for, clawed back; the delivery report."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc
from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc
from registry.season import disbursements
from tests.aidfixtures import poor_households, programme, selection_request
from tests.rpcerrors import fields_of, rpc_fails

GRANT = 200_000


@pytest.fixture
def stub(channel) -> spb_grpc.SeasonServiceStub:
    return spb_grpc.SeasonServiceStub(channel)


@pytest.fixture
def grants(registry, channel) -> list[spb.GrantKey]:
    """Three ill households, a medical programme for two of them, committed: the two grants."""
    poor_households(registry, 3)
    medical = programme(registry, budget_fen=2 * GRANT, amount_fen=GRANT)
    matcher = mpb_grpc.MatcherServiceStub(channel)
    run = matcher.AllocateAid(selection_request([medical.id]), timeout=60)
    matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run.id))
    return [
        spb.GrantKey(run_id=run.id, household_id=g.household_id, programme_id=g.programme_id)
        for g in run.aid.grants
    ]


def disburse(stub, grant, **kw):
    return stub.DisburseGrant(
        spb.DisburseGrantRequest(grant=grant, channel=spb.BANK_CARD, reference="YKT-1", **kw)
    )


def test_a_grant_is_disbursed_and_signed_for(stub, grants, channel):
    """Disbursed by bank card, signed for by the household: two ledger entries; the report
    counts it disbursed and received, the other grant only committed."""
    first = grants[0]
    assert disburse(stub, first).state == spb.GRANT_DISBURSED
    got = stub.SignForGrant(spb.SignForGrantRequest(grant=first, signed_by=spb.SIGNED_BY_HOUSEHOLD))
    assert (got.state, got.amount_fen, got.reference) == (spb.GRANT_RECEIVED, GRANT, "YKT-1")
    ledger = lpb_grpc.LedgerServiceStub(channel)
    trail = ledger.ListLedgerEntries(lpb.ListLedgerEntriesRequest(household_id=first.household_id))
    assert [e.kind for e in trail.entries] == [lpb.AID_GRANT, lpb.AID_DISBURSEMENT, lpb.AID_RECEIPT]
    assert ledger.VerifyLedger(lpb.VerifyLedgerRequest()).intact
    report = stub.GetAidDelivery(spb.GetAidDeliveryRequest())
    (total,) = report.programmes
    assert (total.grants, total.committed_fen, total.disbursed_fen, total.received_fen) == (
        2,
        2 * GRANT,
        GRANT,
        GRANT,
    )
    assert report.overdue == [] and report.overdue_days == 30


def test_grants_not_disbursed_in_time_are_flagged(server, grants, stub):
    """Forty days on, the grant never disbursed is overdue; the disbursed one is not."""
    disburse(stub, grants[0])
    later = datetime.now(UTC) + timedelta(days=40)
    report = disbursements.delivery(server.store, region_code="", overdue_days=30, now=later)
    assert [o.key.household_id for o in report.overdue] == [grants[1].household_id]
    assert report.overdue[0].days in (39, 40)
    sooner = disbursements.delivery(server.store, region_code="", overdue_days=45, now=later)
    assert sooner.overdue == []


def test_steps_out_of_order_name_the_state(stub, grants):
    first = grants[0]
    sign = spb.SignForGrantRequest(grant=first, signed_by=spb.SIGNED_BY_VILLAGE)
    error = rpc_fails(lambda: stub.SignForGrant(sign), grpc.StatusCode.FAILED_PRECONDITION)
    assert "not disbursed yet" in error.details()
    disburse(stub, first)
    error = rpc_fails(lambda: disburse(stub, first), grpc.StatusCode.FAILED_PRECONDITION)
    assert "GRANT_DISBURSED" in error.details()
    claw = spb.ClawBackGrantRequest(grant=first, reason="household moved away")
    assert stub.ClawBackGrant(claw).state == spb.GRANT_CLAWED_BACK
    error = rpc_fails(lambda: stub.ClawBackGrant(claw), grpc.StatusCode.FAILED_PRECONDITION)
    assert "GRANT_CLAWED_BACK" in error.details()
    error = rpc_fails(lambda: stub.SignForGrant(sign), grpc.StatusCode.FAILED_PRECONDITION)
    assert "GRANT_CLAWED_BACK" in error.details()


def test_bad_requests_name_the_field(stub, grants):
    first = grants[0]
    cases = [
        (lambda: stub.DisburseGrant(spb.DisburseGrantRequest(grant=first)), "channel"),
        (lambda: stub.SignForGrant(spb.SignForGrantRequest(grant=first)), "signed_by"),
        (lambda: stub.ClawBackGrant(spb.ClawBackGrantRequest(grant=first)), "reason"),
        (
            lambda: disburse(stub, spb.GrantKey(run_id="r", household_id="a b", programme_id="p")),
            "grant.household_id",
        ),
        (lambda: stub.GetAidDelivery(spb.GetAidDeliveryRequest(region_code="35x")), "region_code"),
    ]
    for call, field in cases:
        assert fields_of(rpc_fails(call, grpc.StatusCode.INVALID_ARGUMENT)) == [field]
    unknown = spb.GrantKey(run_id=first.run_id, household_id="hh-x", programme_id="aid-x")
    rpc_fails(lambda: disburse(stub, unknown), grpc.StatusCode.NOT_FOUND)


def test_ten_parallel_disbursements_pay_once(stub, grants, channel):
    """Ten offices' clerks disburse one grant at once: one succeeds, one ledger entry."""
    first = grants[0]
    barrier = threading.Barrier(10)
    codes: list[str] = []
    winners: list[int] = []

    def go(i: int) -> None:
        barrier.wait()
        try:
            disburse(stub, first, request_id=f"clerk-{i}")
            codes.append("OK")
            winners.append(i)
        except grpc.RpcError as error:
            codes.append(error.code().name)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(codes) == ["FAILED_PRECONDITION"] * 9 + ["OK"]
    again = disburse(stub, first, request_id=f"clerk-{winners[0]}")  # a retry: replayed
    ledger = lpb_grpc.LedgerServiceStub(channel)
    trail = ledger.ListLedgerEntries(lpb.ListLedgerEntriesRequest(household_id=first.household_id))
    assert [e.kind for e in trail.entries].count(lpb.AID_DISBURSEMENT) == 1
    assert again.state == spb.GRANT_DISBURSED


def test_an_office_disburses_in_its_region_only(server, grants):
    """Another county's office cannot find the grant; its own county's office disburses it."""
    from clients.auth import open_channel
    from registry.access.policy import Role
    from tests.factories import ZHAOAN

    for scope, ok in (("110101", False), (ZHAOAN, True)):
        secret = server.keys.create(Role.OFFICE, scope).secret
        with open_channel(f"127.0.0.1:{server.port}", api_key=secret) as channel:
            office = spb_grpc.SeasonServiceStub(channel)
            report = office.GetAidDelivery(spb.GetAidDeliveryRequest())
            assert len(report.programmes) == (1 if ok else 0)
            if ok:
                assert disburse(office, grants[0]).state == spb.GRANT_DISBURSED
            else:
                rpc_fails(lambda o=office: disburse(o, grants[0]), grpc.StatusCode.NOT_FOUND)
