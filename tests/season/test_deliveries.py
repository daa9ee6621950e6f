"""Dividends per delivered kilogram: members' deliveries recorded per listing, a payout split
by them exactly (largest remainder, in fen), never above what the cooperative was paid."""

from __future__ import annotations

import grpc
import pytest

from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc
from registry.season.payments import split_by_shares
from tests.rpcerrors import fields_of, rpc_fails
from tests.season.test_payments import coop, pay  # noqa: F401  (the fixture)


@pytest.fixture
def stub(channel) -> spb_grpc.SeasonServiceStub:
    return spb_grpc.SeasonServiceStub(channel)


def listing_of(stub, coop) -> str:  # noqa: F811
    return stub.GetShipment(spb.GetShipmentRequest(id=coop.shipment_id)).listing_id


def record(stub, listing_id, pairs, **kw):
    return stub.RecordDeliveries(
        spb.RecordDeliveriesRequest(
            listing_id=listing_id,
            deliveries=[spb.MemberDelivery(household_id=hh, kg=kg) for hh, kg in pairs],
            **kw,
        )
    )


def by_kg(stub, coop, amount_fen, **kw):  # noqa: F811
    request = spb.PayDividendsRequest(
        producer_id=coop.producer_id, amount_fen=amount_fen, rule=spb.PER_DELIVERED_KG, **kw
    )
    return stub.PayDividends(request)


def test_a_payout_per_delivered_kg_adds_up_exactly(stub, coop):  # noqa: F811
    """Members delivered 600, 300 and 100 kg (the shares are 5:3:2): 100,001 fen split
    6:3:1 -> 60,001, 30,000, 10,000 (the odd fen to the largest remainder)."""
    listing = listing_of(stub, coop)
    kept = record(stub, listing, list(zip(coop.members, (600, 300, 100), strict=True)))
    assert sorted((d.household_id, d.kg) for d in kept.deliveries) == sorted(
        zip(coop.members, (600, 300, 100), strict=True)
    )
    pay(stub, coop, 150_000)
    paid = by_kg(stub, coop, 100_001)
    got = {d.household_id: (d.amount_fen, d.delivered_kg) for d in paid.dividends}
    assert got == dict(
        zip(coop.members, ((60_001, 600), (30_000, 300), (10_000, 100)), strict=True)
    )
    assert sum(d.amount_fen for d in paid.dividends) == 100_001
    # Independently: exact shares of 100,001 are 60,000.6, 30,000.3, 10,000.1.
    assert got[coop.members[0]][0] == 100_001 * 600 // 1000 + 1
    shares = stub.PayDividends(
        spb.PayDividendsRequest(producer_id=coop.producer_id, amount_fen=10)
    )  # the default rule is still the shares 5:3:2
    assert {d.household_id: d.amount_fen for d in shares.dividends} == dict(
        zip(coop.members, (5, 3, 2), strict=True)
    )


def test_a_payout_per_kg_never_passes_what_was_paid(stub, coop):  # noqa: F811
    """49,999 fen left after a payout: 50,000 more is refused naming amount_fen."""
    record(stub, listing_of(stub, coop), [(coop.members[1], 10)])
    pay(stub, coop, 60_000)
    assert [d.amount_fen for d in by_kg(stub, coop, 10_001).dividends] == [10_001]
    error = rpc_fails(lambda: by_kg(stub, coop, 50_000), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == ["amount_fen"]


def test_deliveries_that_do_not_add_up_are_refused(stub, coop):  # noqa: F811
    """Not a member, twice, not positive, above the listing's 1,000 kg: the field named, and
    nothing stored (a payout per kg then has nothing to pay by)."""
    listing = listing_of(stub, coop)
    a, b, _c = coop.members
    for pairs, field in (
        ([(a, 10), ("hh-stranger", 5)], "deliveries[1].household_id"),
        ([(a, 10), (a, 5)], "deliveries[1].household_id"),
        ([(a, 0)], "deliveries[0].kg"),
        ([(a, 600), (b, 401)], "deliveries"),
    ):
        error = rpc_fails(
            lambda p=pairs: record(stub, listing, p), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert fields_of(error) == [field]
    pay(stub, coop, 1_000)
    rpc_fails(lambda: by_kg(stub, coop, 100), grpc.StatusCode.FAILED_PRECONDITION)
    assert record(stub, listing, [(b, 1000)]).deliveries[0].kg == 1000
    assert record(stub, listing, [(a, 1)]).deliveries[0].household_id == a  # replaced


def test_split_by_kilograms_is_the_largest_remainder():
    """The split is the same function as by shares, on kilograms: 10 fen over 1/1/1 kg."""
    parts = split_by_shares(10, {"a": 1, "b": 1, "c": 1})
    assert parts == {"a": 4, "b": 3, "c": 3} and sum(parts.values()) == 10
