"""A produce market for the benches on the split deployment: villages, households, producers,
buyers, open listings and orders, seeded through the registry's API, and rows to add to it."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench import data
from clients.client import BUYERS, HOUSEHOLDS, LISTINGS, ORDERS, PRODUCERS, RegistryClient
from fupin.registry.v1 import resources_pb2 as pb

PRODUCTS = ("green_plum", "tea", "lychee")
TODAY = "2020-05-20"


@dataclass
class Seeded:
    village_ids: list[str]
    producer_ids: list[str]
    buyer_ids: list[str]
    listing_ids: list[str]
    order_ids: list[str]


def seed(target: str, listings: int, orders: int, seed_value: int) -> Seeded:
    rng = random.Random(seed_value)
    with RegistryClient(target, import_timeout_s=600) as client:
        village_ids = data.create_villages(client, 20, seed_value)
        households = list(client.import_rows(HOUSEHOLDS, data.households(village_ids, 400)).ids)
        producer_ids = [
            client.create(PRODUCERS, producer(rng, household_id)).id
            for household_id in households[:120]
        ]
        buyer_ids = [client.create(BUYERS, buyer(rng, i)).id for i in range(20)]
        rows = (listing(rng, rng.choice(producer_ids)) for _ in range(listings))
        listing_ids = list(client.import_rows(LISTINGS, rows).ids)
        order_ids = [
            client.create(ORDERS, order(rng, rng.choice(buyer_ids))).id for _ in range(orders)
        ]
    return Seeded(village_ids, producer_ids, buyer_ids, listing_ids, order_ids)


def producer(rng: random.Random, household_id: str) -> pb.Producer:
    return pb.Producer(
        kind=pb.PRODUCER_HOUSEHOLD,
        display_name="Grower",
        household_id=household_id,
        location=pb.LatLng(latitude=rng.gauss(23.9, 0.2), longitude=rng.gauss(117.1, 0.2)),
    )


def buyer(rng: random.Random, i: int) -> pb.Buyer:
    return pb.Buyer(
        kind=pb.PROCESSING_PLANT,
        display_name=f"Plant {i}",
        county_code="445281",
        location=pb.LatLng(latitude=rng.uniform(22.8, 23.6), longitude=rng.uniform(115.8, 117)),
    )


def listing(rng: random.Random, producer_id: str) -> pb.Listing:
    return pb.Listing(
        producer_id=producer_id,
        product=rng.choice(PRODUCTS),
        grade=rng.choice("AB"),
        quantity_kg=rng.randint(200, 3000),
        floor_price_fen=rng.randint(80, 180),
        available_from="2020-05-01",
        available_until="2020-06-30",
        shelf_life_days=rng.randint(5, 30),
    )


def order(rng: random.Random, buyer_id: str) -> pb.Order:
    return pb.Order(
        buyer_id=buyer_id,
        product=rng.choice(PRODUCTS),
        accepted_grades=["A", "B"],
        min_quantity_kg=0,
        max_quantity_kg=rng.randint(2000, 40000),
        price_fen=rng.randint(220, 400),
        deliver_by="2020-06-20",
    )
