"""SeasonService through a real server: steps, refusals naming the field or state, scopes."""

from __future__ import annotations

import grpc
import pytest

from clients.auth import open_channel
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc
from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc
from registry.access.policy import Role
from tests.rpcerrors import fields_of, rpc_fails


@pytest.fixture
def season_stub(channel) -> spb_grpc.SeasonServiceStub:
    return spb_grpc.SeasonServiceStub(channel)


def stub_for(server, role: Role, scope: str):
    secret = server.keys.create(role, scope).secret
    channel = open_channel(f"127.0.0.1:{server.port}", api_key=secret)
    return spb_grpc.SeasonServiceStub(channel), channel


def shipments_of(stub, season) -> dict[str, spb.Shipment]:
    listed = stub.ListShipments(spb.ListShipmentsRequest(run_id=season.run_id))
    return {s.order_id: s for s in listed.shipments}


def test_a_shipment_is_dispatched_received_and_written_to_the_ledger(season_stub, season, channel):
    """Dispatch, then a receipt with 20 kg rejected for grade at 2.80 yuan: ledger kinds named."""
    one = shipments_of(season_stub, season)[season.order_ids[1]]
    assert (one.kg, one.state) == (200, spb.SHIPMENT_COMMITTED)
    season_stub.DispatchShipment(spb.DispatchShipmentRequest(id=one.id, request_id="d-1"))
    got = season_stub.ReceiveShipment(
        spb.ReceiveShipmentRequest(
            id=one.id,
            received_kg=180,
            rejected_kg=20,
            reject_reason=spb.REJECT_GRADE,
            paid_price_fen=280,
        )
    )
    assert (got.state, got.received_kg, got.rejected_kg, got.paid_price_fen) == (
        spb.SHIPMENT_RECEIVED,
        180,
        20,
        280,
    )
    assert got.dispatch_time.seconds and got.receive_time.seconds
    ledger = lpb_grpc.LedgerServiceStub(channel)
    entries = ledger.ListLedgerEntries(lpb.ListLedgerEntriesRequest(run_id=season.run_id)).entries
    tail = [(e.kind, e.quantity_kg, e.amount_fen) for e in entries[-3:]]
    assert tail == [
        (lpb.SHIPMENT_DISPATCH, 200, 0),
        (lpb.SHIPMENT_RECEIPT, 180, 180 * 280),
        (lpb.SHIPMENT_REJECTION, 20, 0),
    ]
    assert ledger.VerifyLedger(lpb.VerifyLedgerRequest()).intact


def test_the_order_price_is_paid_when_none_is_given(season_stub, season):
    """A receipt without paid_price_fen is paid at the order's price."""
    one = shipments_of(season_stub, season)[season.order_ids[0]]
    season_stub.DispatchShipment(spb.DispatchShipmentRequest(id=one.id))
    got = season_stub.ReceiveShipment(spb.ReceiveShipmentRequest(id=one.id, received_kg=100))
    assert got.paid_price_fen == 300


def test_steps_out_of_order_name_the_state(season_stub, season):
    """Receiving a committed shipment or cancelling a dispatched one: FAILED_PRECONDITION."""
    one = shipments_of(season_stub, season)[season.order_ids[0]]
    error = rpc_fails(
        lambda: season_stub.ReceiveShipment(spb.ReceiveShipmentRequest(id=one.id, received_kg=1)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "SHIPMENT_COMMITTED" in error.details()
    season_stub.DispatchShipment(spb.DispatchShipmentRequest(id=one.id))
    error = rpc_fails(
        lambda: season_stub.CancelShipment(spb.CancelShipmentRequest(id=one.id, reason="late")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "SHIPMENT_DISPATCHED" in error.details()


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"received_kg": -1}, "received_kg"),
        ({"received_kg": 0}, "received_kg"),
        ({"received_kg": 90, "rejected_kg": 10}, "reject_reason"),
        ({"received_kg": 100, "reject_reason": spb.REJECT_LATE}, "reject_reason"),
        ({"received_kg": 100, "paid_price_fen": -5}, "paid_price_fen"),
        ({"received_kg": 100, "request_id": "no spaces"}, "request_id"),
        ({"id": "bad id!", "received_kg": 1}, "id"),
    ],
)
def test_bad_receipts_name_the_field(season_stub, season, request_fields, field):
    """Each bad receipt is INVALID_ARGUMENT naming its field; the shipment stays DISPATCHED."""
    one = shipments_of(season_stub, season)[season.order_ids[0]]
    season_stub.DispatchShipment(spb.DispatchShipmentRequest(id=one.id))
    request = spb.ReceiveShipmentRequest(**{"id": one.id, **request_fields})
    error = rpc_fails(
        lambda: season_stub.ReceiveShipment(request), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert fields_of(error) == [field]
    again = season_stub.GetShipment(spb.GetShipmentRequest(id=one.id))
    assert again.state == spb.SHIPMENT_DISPATCHED


def test_cancel_needs_a_reason_and_returns_the_kilograms(season_stub, season, registry):
    """No reason: INVALID_ARGUMENT on reason; with one, the listing gets its 300 kg back."""
    from fupin.registry.v1 import registry_service_pb2 as api

    one = shipments_of(season_stub, season)[season.order_ids[2]]
    error = rpc_fails(
        lambda: season_stub.CancelShipment(spb.CancelShipmentRequest(id=one.id, reason=" ")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["reason"]
    got = season_stub.CancelShipment(spb.CancelShipmentRequest(id=one.id, reason="plant closed"))
    assert (got.state, got.cancel_reason) == (spb.SHIPMENT_CANCELLED, "plant closed")
    listing = registry.GetListing(api.GetListingRequest(id=season.listing_id))
    assert listing.reserved_kg == 1000 - 300


def test_each_role_sees_and_moves_its_own_shipments(server, season_stub, season, registry):
    """The buyer's platform moves them; another platform sees none; the cooperative only reads."""
    from fupin.registry.v1 import registry_service_pb2 as api
    from tests import factories

    one = shipments_of(season_stub, season)[season.order_ids[0]]
    stranger = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer())).id
    mine, c1 = stub_for(server, Role.PLATFORM, season.buyer_id)
    other, c2 = stub_for(server, Role.PLATFORM, stranger)
    coop, c3 = stub_for(server, Role.COOPERATIVE, season.producer_id)
    with c1, c2, c3:
        assert len(shipments_of(mine, season)) == 4
        assert shipments_of(other, season) == {}
        rpc_fails(
            lambda: other.DispatchShipment(spb.DispatchShipmentRequest(id=one.id)),
            grpc.StatusCode.NOT_FOUND,
        )
        assert len(shipments_of(coop, season)) == 4
        rpc_fails(
            lambda: coop.DispatchShipment(spb.DispatchShipmentRequest(id=one.id)),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        got = mine.DispatchShipment(spb.DispatchShipmentRequest(id=one.id))
        assert got.state == spb.SHIPMENT_DISPATCHED


def test_list_pages_and_filters_by_state(season_stub, season):
    """Two pages of two; the state filter keeps the one cancelled."""
    first = season_stub.ListShipments(spb.ListShipmentsRequest(run_id=season.run_id, page_size=2))
    second = season_stub.ListShipments(
        spb.ListShipmentsRequest(
            run_id=season.run_id, page_size=2, page_token=first.next_page_token
        )
    )
    ids = [s.id for s in [*first.shipments, *second.shipments]]
    assert len(set(ids)) == 4 and not second.next_page_token
    season_stub.CancelShipment(spb.CancelShipmentRequest(id=ids[0], reason="x"))
    cancelled = season_stub.ListShipments(spb.ListShipmentsRequest(state=spb.SHIPMENT_CANCELLED))
    assert [s.id for s in cancelled.shipments] == [ids[0]]


def test_an_office_sees_and_cancels_its_region_only(server, season_stub, season):
    """The county's office lists and cancels the shipments of its producers; another county's
    office sees none and its cancel is NOT_FOUND, as for an unknown id."""
    from tests.factories import ZHAOAN

    one = shipments_of(season_stub, season)[season.order_ids[3]]
    mine, c1 = stub_for(server, Role.OFFICE, ZHAOAN)
    other, c2 = stub_for(server, Role.OFFICE, "110101")
    with c1, c2:
        assert shipments_of(other, season) == {}
        cancel = spb.CancelShipmentRequest(id=one.id, reason="road closed")
        rpc_fails(lambda: other.CancelShipment(cancel), grpc.StatusCode.NOT_FOUND)
        assert len(shipments_of(mine, season)) == 4
        assert mine.CancelShipment(cancel).state == spb.SHIPMENT_CANCELLED
