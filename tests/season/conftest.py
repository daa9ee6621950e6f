"""A committed produce run to ship: one listing of 1,000 kg sold to four orders of one buyer."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import text

from fupin.registry.v1 import registry_service_pb2 as api
from registry.access.policy import Principal, Role
from registry.runs import data, produce, records
from registry.runs.data import HoldTerms
from tests import factories

TERMS = HoldTerms("green_plum", ("A",), 280, "2020-06-10")


@dataclass(frozen=True)
class Season:
    run_id: str
    listing_id: str
    order_ids: list[str]
    producer_id: str
    buyer_id: str
    household_id: str  # the producer is this household's grower


def commit_run(store, allocations, run_id: str) -> str:
    """Commit a produce run holding these (listing, order, kg) allocations."""
    records.create_run(store, run_id=run_id, kind=produce.PRODUCE_KIND, parameters=b"", owner="t")
    allocs = [data.Allocation(*a) for a in allocations]
    records.update_run(store, run_id, state=data.RunState.PROPOSED, allocations=allocs)
    produce.commit_produce(store, run_id)
    return run_id


def column(store, table: str, column: str, row_id: str) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                text(f"SELECT {column} FROM {table} WHERE id = :i"), {"i": row_id}
            ).scalar_one()
        )


def ledger_kinds(store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(text("SELECT kind FROM ledger_entry ORDER BY seq")).scalars())


@dataclass(frozen=True)
class Stock:
    listing_id: str
    order_ids: list[str]  # two registry orders of the buyer, 100 and 300 kg committed
    buyer_id: str
    platform: Principal


@pytest.fixture
def stock(registry, server) -> Stock:
    """A listing of 1,000 kg: 400 kg committed to two orders, 600 kg free."""
    village = factories.create_village(registry)
    hh = factories.create_household(registry, village.id)
    producer = registry.CreateProducer(
        api.CreateProducerRequest(producer=factories.producer_for(hh.id))
    )
    buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    listing = registry.CreateListing(
        api.CreateListingRequest(listing=factories.listing(producer.id, quantity_kg=1000))
    ).id
    orders = [
        registry.CreateOrder(
            api.CreateOrderRequest(order=factories.order(buyer.id, max_quantity_kg=1000))
        ).id
        for _ in range(2)
    ]
    commit_run(server.store, [(listing, orders[0], 100), (listing, orders[1], 300)], "run-stock")
    return Stock(listing, orders, buyer.id, Principal("k-plat", Role.PLATFORM, buyer.id))


@pytest.fixture
def season(registry, server) -> Season:
    """Listing of 1,000 kg; 100, 200, 300 and 400 kg of it committed to four orders at 3 yuan."""
    village = factories.create_village(registry)
    hh = factories.create_household(registry, village.id)
    producer = registry.CreateProducer(
        api.CreateProducerRequest(producer=factories.producer_for(hh.id))
    )
    buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    listing = registry.CreateListing(
        api.CreateListingRequest(listing=factories.listing(producer.id, quantity_kg=1000))
    ).id
    orders = [
        registry.CreateOrder(
            api.CreateOrderRequest(
                order=factories.order(buyer.id, max_quantity_kg=1000, price_fen=300)
            )
        ).id
        for _ in range(4)
    ]
    allocations = [(listing, o, 100 * (i + 1)) for i, o in enumerate(orders)]
    run_id = commit_run(server.store, allocations, "run-season")
    return Season(run_id, listing, orders, producer.id, buyer.id, hh.id)
