"""The batch RPCs (BatchDispatchShipments, BatchReceiveShipments, BatchRecordPayments) through
a real server on SQLite and PostgreSQL: all or nothing, items named, replayed, raced."""

from __future__ import annotations

import random
import threading

import grpc
import pytest
from sqlalchemy import text

from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc
from registry.access.policy import Role
from registry.season import shipments as store_shipments
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails
from tests.season.conftest import ledger_kinds
from tests.season.test_season_service import shipments_of, stub_for

PRICE = 300  # fen per kg, the season's orders


@pytest.fixture
def stub(channel) -> spb_grpc.SeasonServiceStub:
    return spb_grpc.SeasonServiceStub(channel)


def ids(stub, season) -> list[str]:
    """The season's four shipments (100, 200, 300, 400 kg), in order of their orders."""
    found = shipments_of(stub, season)
    return [found[o].id for o in season.order_ids]


def dispatches(shipment_ids, prefix: str = "") -> spb.BatchDispatchShipmentsRequest:
    return spb.BatchDispatchShipmentsRequest(
        requests=[
            spb.DispatchShipmentRequest(id=s, request_id=f"{prefix}{s}" if prefix else "")
            for s in shipment_ids
        ]
    )


def receipt(shipment_id: str, kg: int, request_id: str = "") -> spb.ReceiveShipmentRequest:
    """All received but 10 kg, rejected for grade."""
    return spb.ReceiveShipmentRequest(
        id=shipment_id,
        received_kg=kg - 10,
        rejected_kg=10,
        reject_reason=spb.REJECT_GRADE,
        request_id=request_id,
    )


def payment(shipment_id: str, fen: int, request_id: str = "") -> spb.RecordPaymentRequest:
    return spb.RecordPaymentRequest(
        shipment_id=shipment_id, amount_fen=fen, paid_on="2020-06-15", request_id=request_id
    )


def received(stub, season) -> list[str]:
    """Every shipment dispatched and received by one batch each; their ids."""
    shipment_ids = ids(stub, season)
    stub.BatchDispatchShipments(dispatches(shipment_ids))
    kgs = [100, 200, 300, 400]
    stub.BatchReceiveShipments(
        spb.BatchReceiveShipmentsRequest(
            requests=[receipt(s, kg) for s, kg in zip(shipment_ids, kgs, strict=True)]
        )
    )
    return shipment_ids


def income(server, household_id: str) -> int:
    with server.store.engine.connect() as conn:
        got = conn.execute(
            text("SELECT produce_fen FROM household_income WHERE household_id = :h"),
            {"h": household_id},
        ).scalar()
    return int(got or 0)


def test_batches_move_every_shipment_with_one_ledger_extension(server, stub, season):
    """Dispatch, receive and pay four shipments by three calls: states, ledger in request
    order (one time stamp per batch), the grower's income the sum of the payments."""
    shipment_ids = received(stub, season)
    owed = [(kg - 10) * PRICE for kg in (100, 200, 300, 400)]
    paid = stub.BatchRecordPayments(
        spb.BatchRecordPaymentsRequest(
            requests=[payment(s, fen) for s, fen in zip(shipment_ids, owed, strict=True)]
        )
    )
    assert [s.id for s in paid.shipments] == shipment_ids
    assert [(s.state, s.paid_fen) for s in paid.shipments] == [
        (spb.SHIPMENT_RECEIVED, fen) for fen in owed
    ]
    kinds = ledger_kinds(server.store)
    assert kinds[-16:] == (
        [store_shipments.DISPATCH_ENTRY] * 4
        + [store_shipments.RECEIPT_ENTRY, store_shipments.REJECTION_ENTRY] * 4
        + [store_shipments.PAYMENT_ENTRY] * 4
    )
    with server.store.engine.connect() as conn:
        stamps = conn.execute(
            text("SELECT COUNT(DISTINCT time) FROM ledger_entry WHERE kind = 'payment'")
        ).scalar_one()
    assert stamps == 1
    assert income(server, season.household_id) == sum(owed)


def test_a_bad_item_refuses_the_batch_naming_it(server, stub, season):
    """A receipt above what was shipped, a shipment in the wrong state, an unknown or bad id,
    a repeated request_id, an empty or oversized batch: refused, naming the item; nothing is
    stored."""
    shipment_ids = ids(stub, season)
    stub.BatchDispatchShipments(dispatches(shipment_ids[:3]))
    before = ledger_kinds(server.store)
    over = [receipt(shipment_ids[0], 100), receipt(shipment_ids[1], 200)]
    over[1].received_kg = 195
    bad = rpc_fails(
        lambda: stub.BatchReceiveShipments(spb.BatchReceiveShipmentsRequest(requests=over)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(bad) == ["requests[1].rejected_kg"]
    late = [receipt(shipment_ids[0], 100), receipt(shipment_ids[3], 400)]
    bad = rpc_fails(
        lambda: stub.BatchReceiveShipments(spb.BatchReceiveShipmentsRequest(requests=late)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert bad.details().startswith("requests[1]: ") and "SHIPMENT_COMMITTED" in bad.details()
    unknown = dispatches([shipment_ids[3], "shp-nobody"])
    bad = rpc_fails(lambda: stub.BatchDispatchShipments(unknown), grpc.StatusCode.NOT_FOUND)
    assert fields_of(bad) == ["requests[1].id"]
    cases = {
        "requests[0].id": dispatches(["no spaces allowed"]),
        "requests[1].request_id": spb.BatchDispatchShipmentsRequest(
            requests=[spb.DispatchShipmentRequest(id=s, request_id="same") for s in shipment_ids]
        ),
        "requests": spb.BatchDispatchShipmentsRequest(),
    }
    for field, request in cases.items():
        bad = rpc_fails(
            lambda r=request: stub.BatchDispatchShipments(r), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert fields_of(bad) == [field]
    too_many = dispatches([shipment_ids[3]] * 501)
    bad = rpc_fails(lambda: stub.BatchDispatchShipments(too_many), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(bad) == ["requests"]
    pay = [payment(shipment_ids[0], 1), payment(shipment_ids[0], 1)]
    pay[1].paid_on = "15/06/2020"
    bad = rpc_fails(
        lambda: stub.BatchRecordPayments(spb.BatchRecordPaymentsRequest(requests=pay)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(bad) == ["requests[1].paid_on"]
    nobody = payment("shp-nobody", 1)
    bad = rpc_fails(lambda: stub.RecordPayment(nobody), grpc.StatusCode.NOT_FOUND)
    assert fields_of(bad) == ["shipment_id"]
    bad = rpc_fails(
        lambda: stub.BatchRecordPayments(spb.BatchRecordPaymentsRequest(requests=[nobody])),
        grpc.StatusCode.NOT_FOUND,
    )
    assert fields_of(bad) == ["requests[0].shipment_id"]
    assert ledger_kinds(server.store) == before
    states = [s.state for s in shipments_of(stub, season).values()]
    assert sorted(states) == sorted([spb.SHIPMENT_DISPATCHED] * 3 + [spb.SHIPMENT_COMMITTED])


def test_items_replay_by_their_own_request_id(server, stub, season):
    """A batch sent again changes nothing; an item's request_id replays through the single
    call too; the same request_id on a different item is ALREADY_EXISTS naming it."""
    shipment_ids = ids(stub, season)
    first = stub.BatchDispatchShipments(dispatches(shipment_ids, "d-"))
    before = ledger_kinds(server.store)
    again = stub.BatchDispatchShipments(dispatches(shipment_ids, "d-"))
    assert [s.dispatch_time for s in again.shipments] == [s.dispatch_time for s in first.shipments]
    single = spb.DispatchShipmentRequest(id=shipment_ids[2], request_id=f"d-{shipment_ids[2]}")
    assert stub.DispatchShipment(single).state == spb.SHIPMENT_DISPATCHED
    assert ledger_kinds(server.store) == before
    clash = dispatches(shipment_ids[1:2])
    clash.requests[0].request_id = f"d-{shipment_ids[0]}"
    bad = rpc_fails(lambda: stub.BatchDispatchShipments(clash), grpc.StatusCode.ALREADY_EXISTS)
    assert fields_of(bad) == ["requests[0].request_id"]
    assert ledger_kinds(server.store) == before


def test_a_platform_batches_its_own_buyers_shipments_only(server, stub, season, registry):
    """The access of the single call: another buyer's platform finds none of them; a
    cooperative may not call the batch at all."""
    shipment_ids = ids(stub, season)
    stranger = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer())).id
    other, channel = stub_for(server, Role.PLATFORM, stranger)
    with channel:
        bad = rpc_fails(
            lambda: other.BatchDispatchShipments(dispatches(shipment_ids)),
            grpc.StatusCode.NOT_FOUND,
        )
    assert fields_of(bad) == ["requests[0].id"]
    coop, channel = stub_for(server, Role.COOPERATIVE, season.producer_id)
    with channel:
        rpc_fails(
            lambda: coop.BatchDispatchShipments(dispatches(shipment_ids)),
            grpc.StatusCode.PERMISSION_DENIED,
        )
    own, channel = stub_for(server, Role.PLATFORM, season.buyer_id)
    with channel:
        moved = own.BatchDispatchShipments(dispatches(shipment_ids))
    assert {s.state for s in moved.shipments} == {spb.SHIPMENT_DISPATCHED}


def test_batches_and_single_calls_racing_never_count_twice(server, stub, season):
    """20 threads race batches and single calls of receipts and payments over the four
    shipments (each paid at most what is owed): no shipment is received twice, none is paid
    above what is owed, and the ledger holds exactly one receipt per received shipment and
    the payments that were kept."""
    shipment_ids = ids(stub, season)
    kgs = dict(zip(shipment_ids, [100, 200, 300, 400], strict=True))
    stub.BatchDispatchShipments(dispatches(shipment_ids))
    barrier = threading.Barrier(20)
    errors: list[str] = []

    def work(worker: int) -> None:
        rng = random.Random(worker)
        barrier.wait()
        for _attempt in range(4):
            picked = rng.sample(shipment_ids, rng.randint(1, 4))
            fen = {s: (kgs[s] - 10) * PRICE // 2 for s in picked}
            try:
                if rng.random() < 0.5:
                    if len(picked) == 1:
                        stub.ReceiveShipment(receipt(picked[0], kgs[picked[0]]))
                    else:
                        requests = [receipt(s, kgs[s]) for s in picked]
                        stub.BatchReceiveShipments(
                            spb.BatchReceiveShipmentsRequest(requests=requests)
                        )
                elif len(picked) == 1:
                    stub.RecordPayment(payment(picked[0], fen[picked[0]]))
                else:
                    requests = [payment(s, fen[s]) for s in picked]
                    stub.BatchRecordPayments(spb.BatchRecordPaymentsRequest(requests=requests))
            except grpc.RpcError as error:
                refused = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT)
                if error.code() not in refused:
                    errors.append(f"{error.code()}: {error.details()}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    final = {s.id: s for s in shipments_of(stub, season).values()}
    with server.store.engine.connect() as conn:
        ledger = dict(
            conn.execute(
                text(
                    "SELECT kind, COUNT(*) FROM ledger_entry WHERE kind IN "
                    "('shipment_receipt', 'payment') GROUP BY kind"
                )
            ).all()
        )
        payments = dict(
            conn.execute(
                text("SELECT shipment_id, SUM(amount_fen) FROM payment GROUP BY shipment_id")
            ).all()
        )
        paid_entries = conn.execute(
            text("SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entry WHERE kind = 'payment'")
        ).scalar_one()
    got = [s for s in final.values() if s.state == spb.SHIPMENT_RECEIVED]
    assert ledger.get("shipment_receipt", 0) == len(got) > 0
    for s in final.values():
        assert s.paid_fen <= s.owed_fen
        assert s.paid_fen == int(payments.get(s.id, 0))
    assert int(paid_entries) == sum(s.paid_fen for s in final.values())
    assert income(server, season.household_id) == sum(s.paid_fen for s in final.values())
