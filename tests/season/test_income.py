"""Income back to the file card: payments, dividends and aid feed a household's record of the
year, re-score it, and a changed status names the income in the history."""

from __future__ import annotations

import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import select
from sqlmodel import col

from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc
from registry.season.models import HouseholdIncome
from tests import factories
from tests.season.conftest import commit_run
from tests.season.test_disbursements import grants  # noqa: F401  (the fixture)
from tests.season.test_payments import coop  # noqa: F401  (the fixture)


@pytest.fixture
def stub(channel) -> spb_grpc.SeasonServiceStub:
    return spb_grpc.SeasonServiceStub(channel)


@pytest.fixture
def grower(registry, server, stub):
    """A one-person household (score 58, impoverished) grew 1,000 kg, received at 3 yuan."""
    village = factories.create_village(registry)
    hh = factories.create_household(registry, village.id, members=1, labour_force=1)
    producer = registry.CreateProducer(
        api.CreateProducerRequest(producer=factories.producer_for(hh.id))
    )
    buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    listing = registry.CreateListing(
        api.CreateListingRequest(listing=factories.listing(producer.id, quantity_kg=1000))
    ).id
    order = registry.CreateOrder(
        api.CreateOrderRequest(order=factories.order(buyer.id, price_fen=300))
    ).id
    run_id = commit_run(server.store, [(listing, order, 1000)], "run-grower")
    (shipment,) = stub.ListShipments(spb.ListShipmentsRequest(run_id=run_id)).shipments
    stub.DispatchShipment(spb.DispatchShipmentRequest(id=shipment.id))
    stub.ReceiveShipment(spb.ReceiveShipmentRequest(id=shipment.id, received_kg=1000))
    return hh, shipment.id


def record(server, household_id: str) -> dict[int, int]:
    with server.store.transaction() as session:
        rows = session.scalars(
            select(HouseholdIncome).where(col(HouseholdIncome.household_id) == household_id)
        )
        return {r.year: r.total_fen for r in rows}


def test_a_payment_lifts_a_grower_and_the_history_says_why(registry, server, stub, grower):
    """3,000 yuan of plum sales in 2020 raise the one-person household from 58 to 69: at risk,
    and the history entry names the income."""
    hh, shipment = grower
    before = registry.GetHousehold(api.GetHouseholdRequest(id=hh.id))
    assert (before.score, before.status) == (58, pb.IMPOVERISHED)
    stub.RecordPayment(
        spb.RecordPaymentRequest(shipment_id=shipment, amount_fen=300_000, paid_on="2020-06-15")
    )
    assert record(server, hh.id) == {2020: 300_000}
    after = registry.GetHousehold(api.GetHouseholdRequest(id=hh.id))
    assert (after.score, after.status) == (69, pb.AT_RISK)
    assert after.history[-1].reason == "income 2020: produce sales ¥3,000"
    assert after.history[-1].new_status == pb.AT_RISK


def test_a_small_payment_changes_the_score_not_the_status(registry, server, stub, grower):
    """100 yuan: the record grows, the score moves by less than a point, no history entry."""
    hh, shipment = grower
    stub.RecordPayment(
        spb.RecordPaymentRequest(shipment_id=shipment, amount_fen=10_000, paid_on="2020-06-15")
    )
    after = registry.GetHousehold(api.GetHouseholdRequest(id=hh.id))
    assert after.status == pb.IMPOVERISHED
    assert len(after.history) == 1  # the filing only
    assert record(server, hh.id) == {2020: 10_000}


def test_an_update_of_the_card_keeps_the_recorded_income(registry, server, stub, grower):
    """Editing the card re-scores with the record too: the household stays at risk."""
    hh, shipment = grower
    stub.RecordPayment(
        spb.RecordPaymentRequest(shipment_id=shipment, amount_fen=300_000, paid_on="2020-06-15")
    )
    card = pb.Household(id=hh.id, head_name="Renamed")
    mask = field_mask_pb2.FieldMask(paths=["head_name"])
    updated = registry.UpdateHousehold(api.UpdateHouseholdRequest(household=card, update_mask=mask))
    assert (updated.score, updated.status) == (69, pb.AT_RISK)


def test_dividends_and_aid_feed_the_members_records(server, stub, coop, grants):  # noqa: F811
    """Dividends paid on 2020-07-01 and a grant signed for in 2020 are each household's 2020
    income; clawing the received grant back takes it out again."""
    stub.RecordPayment(
        spb.RecordPaymentRequest(
            shipment_id=coop.shipment_id, amount_fen=100_000, paid_on="2020-06-20"
        )
    )
    stub.PayDividends(
        spb.PayDividendsRequest(
            producer_id=coop.producer_id, amount_fen=100_000, paid_on="2020-07-01"
        )
    )
    assert [record(server, hh) for hh in coop.members] == [
        {2020: 50_000},
        {2020: 30_000},
        {2020: 20_000},
    ]
    grant = grants[0]
    stub.DisburseGrant(spb.DisburseGrantRequest(grant=grant, channel=spb.CASH))
    stub.SignForGrant(
        spb.SignForGrantRequest(
            grant=grant, signed_by=spb.SIGNED_BY_HOUSEHOLD, signed_on="2020-08-01"
        )
    )
    assert record(server, grant.household_id) == {2020: 200_000}
    stub.ClawBackGrant(spb.ClawBackGrantRequest(grant=grant, reason="paid twice by mistake"))
    assert record(server, grant.household_id) == {2020: 0}
