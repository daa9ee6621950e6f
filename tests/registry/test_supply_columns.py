"""Open supply read as columns (supply.open_listing_columns) is the record read's, listing for
listing, on SQLite and PostgreSQL: held kilograms taken, expired holds swept, household points
on the 0.01-degree grid, cooperative shares by member; and the model's problem is the same."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from matcher.service import convert_produce as convert
from matcher.solvers.common.solving import Objective
from registry.access.policy import Principal, Role
from registry.runs import supply
from registry.runs.data import HeldKg, HoldTerms
from registry.season import holds
from tests import factories

HOME = (23.72349, 117.17661)  # off the grid
FILTERS = [
    {},
    {"today": "2020-05-20"},
    {"today": "2020-06-15"},  # after every listing of ours
]


@pytest.fixture
def ours(registry, server):
    """A household producer off the grid, a cooperative of two households (600 / 400), an
    enterprise; a listing each of a product of our own, one with 300 kg held and one whose
    250 kg hold has expired; their village's code."""
    product = f"plum_{uuid.uuid4().hex[:8]}"
    village = factories.create_village(registry)
    hh = [factories.create_household(registry, village.id) for _ in range(2)]
    at = pb.LatLng(latitude=HOME[0], longitude=HOME[1])
    producers = [
        factories.producer_for(hh[0].id, location=at),
        factories.cooperative(village.id, {hh[0].id: 600, hh[1].id: 400}, location=at),
        pb.Producer(
            kind=pb.PRODUCER_ENTERPRISE,
            display_name="Orchard",
            village_id=village.id,
            location=at,
        ),
    ]
    ids = [registry.CreateProducer(api.CreateProducerRequest(producer=p)).id for p in producers]
    listings = [
        registry.CreateListing(
            api.CreateListingRequest(
                listing=factories.listing(p, product=product, grade=g, quantity_kg=1000)
            )
        ).id
        for p, g in zip(ids, "ABA", strict=True)
    ]
    buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    platform = Principal("k-plat", Role.PLATFORM, buyer.id)
    terms = HoldTerms(product, ("A", "B"), 280, "2020-06-10")
    now = dt.datetime.now(dt.UTC)
    for listing, kg, at_time in [
        (listings[0], 300, now),
        (listings[1], 250, now - dt.timedelta(hours=1)),
    ]:
        holds.hold_listings(
            server.store,
            items=[HeldKg(listing, kg)],
            terms=terms,
            minutes=10,
            reader=platform,
            request_id="",
            fingerprint="f",
            now=at_time,
        )
    statuses = [registry.GetHousehold(api.GetHouseholdRequest(id=h.id)).status for h in hh]
    return product, village.admin_code, listings, statuses


def test_columns_are_the_records(server, ours):
    """Every filter (product, region, day) reads the same listings either way; ours are held,
    swept, coarsened and shared as the registry says."""
    store = server.store
    product, region, listings, statuses = ours
    columns = supply.open_listing_columns(store, product=product)  # sweeps the expired hold
    got = {x.id: x for x in columns.records()}
    assert [got[i].available_kg for i in listings] == [700, 1000, 1000]
    assert (got[listings[0]].latitude, got[listings[0]].longitude) == (23.72, 117.18)
    assert (got[listings[2]].latitude, got[listings[2]].longitude) == HOME  # an enterprise's own
    assert got[listings[0]].shares == ((statuses[0], 1000),)
    assert sorted(got[listings[1]].shares) == sorted(zip(statuses, (600, 400), strict=True))
    assert got[listings[2]].shares == ()
    for where in [{"product": product}, {"region_code": region[:9]}, {"product": "green_plum"}]:
        for when in FILTERS:
            filters = {**where, **when}
            columns = supply.open_listing_columns(store, **filters)
            assert columns.records() == supply.open_listings(store, **filters), filters
    everything = supply.open_listing_columns(store)
    assert set(listings) <= set(everything.id) and everything.id == sorted(everything.id)
    assert not supply.open_listing_columns(store, region_code="999999").id


def test_the_problem_from_columns_is_the_records(server, ours):
    """The model's problem of a selection, from the columns and from the records, is equal."""
    store = server.store
    product = ours[0]
    for chosen in [product, "green_plum"]:
        selection = mpb.RegistrySelection(product=chosen, today="2020-05-10")
        orders = supply.open_orders(store, product=chosen, today="2020-05-10")
        columns = supply.open_listing_columns(store, product=chosen, today="2020-05-10")
        records = supply.open_listings(store, product=chosen, today="2020-05-10")
        assert len(columns) == len(records)
        from_columns = convert.registry_columns_problem(
            selection, columns, orders, Objective.POVERTY_FIRST
        )
        from_records = convert.registry_problem(selection, records, orders, Objective.POVERTY_FIRST)
        assert from_columns == from_records
        assert from_columns.listings == from_records.listings  # arrays, element for element
