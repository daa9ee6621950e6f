"""Payments for shipments and a cooperative's dividends, through a real server."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import grpc
import pytest

from clients.auth import open_channel
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc
from registry.access.policy import Role
from registry.season.payments import split_by_shares
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails
from tests.season.conftest import commit_run

OWED = 900 * 300  # 900 kg received at 3 yuan


@dataclass(frozen=True)
class Coop:
    producer_id: str
    buyer_id: str
    shipment_id: str
    members: list[str]  # shares 500, 300, 200


@pytest.fixture
def stub(channel) -> spb_grpc.SeasonServiceStub:
    return spb_grpc.SeasonServiceStub(channel)


@pytest.fixture
def coop(registry, server, stub) -> Coop:
    """A cooperative of three households sold 1,000 kg; 900 kg received, 100 rejected."""
    village = factories.create_village(registry)
    members = [factories.create_household(registry, village.id).id for _ in range(3)]
    producer = registry.CreateProducer(
        api.CreateProducerRequest(
            producer=factories.cooperative(
                village.id, dict(zip(members, (500, 300, 200), strict=True))
            )
        )
    )
    buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    listing = registry.CreateListing(
        api.CreateListingRequest(listing=factories.listing(producer.id, quantity_kg=1000))
    ).id
    order = registry.CreateOrder(
        api.CreateOrderRequest(order=factories.order(buyer.id, price_fen=300))
    ).id
    run_id = commit_run(server.store, [(listing, order, 1000)], "run-coop")
    (shipment,) = stub.ListShipments(spb.ListShipmentsRequest(run_id=run_id)).shipments
    stub.DispatchShipment(spb.DispatchShipmentRequest(id=shipment.id))
    stub.ReceiveShipment(
        spb.ReceiveShipmentRequest(
            id=shipment.id, received_kg=900, rejected_kg=100, reject_reason=spb.REJECT_QUALITY
        )
    )
    return Coop(producer.id, buyer.id, shipment.id, members)


def pay(stub, coop, amount_fen, **kw):
    return stub.RecordPayment(
        spb.RecordPaymentRequest(
            shipment_id=coop.shipment_id, amount_fen=amount_fen, paid_on="2020-06-15", **kw
        )
    )


def ledger_count(channel) -> int:
    return lpb_grpc.LedgerServiceStub(channel).VerifyLedger(lpb.VerifyLedgerRequest()).entries


def test_split_by_shares_adds_up_exactly():
    """7 fen over shares 500/300/200: 3.5, 2.1, 1.4 -> 4, 2, 1 (the largest remainder first)."""
    assert split_by_shares(7, {"a": 500, "b": 300, "c": 200}) == {"a": 4, "b": 2, "c": 1}
    assert split_by_shares(1, {"a": 1, "b": 1}) == {"a": 1}
    parts = split_by_shares(1_000_003, {"x": 333, "y": 333, "z": 334})
    assert sum(parts.values()) == 1_000_003


def test_payments_never_pass_what_is_owed(stub, coop, channel):
    """Pay in two parts up to the receipt's value; one fen more is refused and stores nothing."""
    assert pay(stub, coop, 200_000, reference="BANK-1").paid_fen == 200_000
    got = pay(stub, coop, OWED - 200_000)
    assert (got.owed_fen, got.paid_fen) == (OWED, OWED)
    before = ledger_count(channel)
    error = rpc_fails(lambda: pay(stub, coop, 1), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == ["amount_fen"]
    assert "0 fen" in error.details()
    assert ledger_count(channel) == before
    account = stub.GetProducerAccount(spb.GetProducerAccountRequest(producer_id=coop.producer_id))
    assert (account.shipped_kg, account.received_kg, account.rejected_kg) == (1000, 900, 100)
    assert (account.owed_fen, account.paid_fen, account.outstanding_fen) == (OWED, OWED, 0)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount_fen": 0}, "amount_fen"),
        ({"amount_fen": 10, "paid_on": "2020-13-01"}, "paid_on"),
        ({"amount_fen": 10, "reference": "x" * 101}, "reference"),
        ({"amount_fen": 10, "shipment_id": ""}, "shipment_id"),
    ],
)
def test_bad_payments_name_the_field(stub, coop, fields, field):
    request = spb.RecordPaymentRequest(shipment_id=coop.shipment_id, paid_on="2020-06-15")
    for name, value in fields.items():
        setattr(request, name, value)
    error = rpc_fails(lambda: stub.RecordPayment(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == [field]


def test_dividends_by_share_each_in_the_ledger(stub, coop, channel):
    """150,000 fen paid; 100,000 paid out 5:3:2, each a DIVIDEND naming the household; more
    than the 50,000 left is refused naming amount_fen; a retry replays the batch."""
    pay(stub, coop, 150_000)
    request = spb.PayDividendsRequest(
        producer_id=coop.producer_id, amount_fen=100_000, request_id="div-1"
    )
    paid = stub.PayDividends(request)
    assert {d.household_id: d.amount_fen for d in paid.dividends} == dict(
        zip(coop.members, (50_000, 30_000, 20_000), strict=True)
    )
    assert stub.PayDividends(request).batch_id == paid.batch_id
    before = ledger_count(channel)
    error = rpc_fails(
        lambda: stub.PayDividends(
            spb.PayDividendsRequest(producer_id=coop.producer_id, amount_fen=50_001)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["amount_fen"]
    assert ledger_count(channel) == before
    ledger = lpb_grpc.LedgerServiceStub(channel)
    trail = ledger.ListLedgerEntries(lpb.ListLedgerEntriesRequest(household_id=coop.members[0]))
    assert [(e.kind, e.counterpart_id, e.amount_fen) for e in trail.entries] == [
        (lpb.DIVIDEND, coop.producer_id, 50_000)
    ]
    account = stub.GetProducerAccount(spb.GetProducerAccountRequest(producer_id=coop.producer_id))
    assert (account.dividends_fen, account.undistributed_fen) == (100_000, 50_000)


def test_parallel_payouts_never_pay_out_more_than_was_paid(stub, coop, server):
    """10 payouts of 10,000 fen race for 50,000: exactly five are paid."""
    pay(stub, coop, 50_000)
    barrier = threading.Barrier(10)
    codes: list[str] = []

    def payout() -> None:
        barrier.wait()
        try:
            stub.PayDividends(
                spb.PayDividendsRequest(producer_id=coop.producer_id, amount_fen=10_000)
            )
            codes.append("OK")
        except grpc.RpcError as error:
            codes.append(error.code().name)

    threads = [threading.Thread(target=payout) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(codes) == ["INVALID_ARGUMENT"] * 5 + ["OK"] * 5
    account = stub.GetProducerAccount(spb.GetProducerAccountRequest(producer_id=coop.producer_id))
    assert account.dividends_fen == 50_000


def test_who_may_pay(server, coop, stub):
    """The cooperative pays out its own members; a platform may not; a grower is refused."""
    stub.RecordPayment(
        spb.RecordPaymentRequest(
            shipment_id=coop.shipment_id, amount_fen=1000, paid_on="2020-06-15"
        )
    )
    request = spb.PayDividendsRequest(producer_id=coop.producer_id, amount_fen=100)
    for role, scope, code in [
        (Role.PLATFORM, coop.buyer_id, grpc.StatusCode.PERMISSION_DENIED),
        (Role.COOPERATIVE, coop.producer_id, None),
    ]:
        secret = server.keys.create(role, scope).secret
        with open_channel(f"127.0.0.1:{server.port}", api_key=secret) as channel:
            theirs = spb_grpc.SeasonServiceStub(channel)
            if code is None:
                assert len(theirs.PayDividends(request).dividends) == 3
            else:
                rpc_fails(lambda s=theirs: s.PayDividends(request), code)


def payouts(coop, *amounts: int, prefix: str = "") -> spb.BatchPayDividendsRequest:
    return spb.BatchPayDividendsRequest(
        requests=[
            spb.PayDividendsRequest(
                producer_id=coop.producer_id,
                amount_fen=fen,
                request_id=f"{prefix}{i}" if prefix else "",
            )
            for i, fen in enumerate(amounts)
        ]
    )


def test_a_batch_of_payouts_draws_on_what_was_paid_in_turn(stub, coop, channel):
    """150,000 fen paid: a batch of 60,000 and 40,000 pays both (six DIVIDEND entries); one of
    50,000 and 1 more is refused naming requests[1].amount_fen, nothing stored; the first
    batch sent again replays its batch ids."""
    pay(stub, coop, 150_000)
    before = ledger_count(channel)
    first = stub.BatchPayDividends(payouts(coop, 60_000, 40_000, prefix="b-"))
    assert [sum(d.amount_fen for d in r.dividends) for r in first.responses] == [60_000, 40_000]
    assert ledger_count(channel) == before + 6
    error = rpc_fails(
        lambda: stub.BatchPayDividends(payouts(coop, 50_000, 1)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["requests[1].amount_fen"]
    again = stub.BatchPayDividends(payouts(coop, 60_000, 40_000, prefix="b-"))
    assert [r.batch_id for r in again.responses] == [r.batch_id for r in first.responses]
    assert ledger_count(channel) == before + 6
    account = stub.GetProducerAccount(spb.GetProducerAccountRequest(producer_id=coop.producer_id))
    assert account.dividends_fen == 100_000


def test_batched_and_single_payouts_racing_never_pay_out_more(stub, coop):
    """50,000 fen paid; 10 threads race single payouts of 10,000 and batches of two of 5,000:
    what was paid out adds up to what the successful calls asked, and never above 50,000."""
    pay(stub, coop, 50_000)
    barrier = threading.Barrier(10)
    paid: list[int] = []
    errors: list[str] = []

    def payout(worker: int) -> None:
        barrier.wait()
        try:
            if worker % 2:
                stub.BatchPayDividends(payouts(coop, 5_000, 5_000))
            else:
                stub.PayDividends(
                    spb.PayDividendsRequest(producer_id=coop.producer_id, amount_fen=10_000)
                )
            paid.append(10_000)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
                errors.append(f"{error.code()}: {error.details()}")

    threads = [threading.Thread(target=payout, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    account = stub.GetProducerAccount(spb.GetProducerAccountRequest(producer_id=coop.producer_id))
    assert account.dividends_fen == sum(paid) == 50_000
