"""Open supply and demand as plain records: what a produce run or quick sourcing reads.

A listing's poverty shares come from its producer: a household producer is its household's
status (one share of 1000); a cooperative, its members' statuses by share; an enterprise, none.

A household producer's farm is its home, so its point is read on a grid of 0.01 degrees
(about 1.1 km north-south, 1 km east-west at 23 degrees north), the precision a platform's
GetProducer shows (registry/access/redaction.py). Every distance a run or quick sourcing
computes from it, and so shows any caller, is from that grid point: combining any number of
calls locates the home no better than its grid cell, about 1 km across.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from fupin.registry.v1 import resources_pb2 as pb
from registry.resources import models
from registry.resources.store import RegistryStore
from registry.runs.data import OpenListing, OpenOrder
from registry.season import holds

HOME_DECIMALS = 2


def open_listings(
    store: RegistryStore, *, product: str = "", region_code: str = "", today: str = ""
) -> list[OpenListing]:
    """Listings with kilograms left, still available on `today`, in the region (by village).
    Kilograms held at checkouts count as taken; expired holds are swept first."""
    holds.sweep(store)
    lst, pro, vil = models.Listing, models.Producer, models.Village
    # Columns, not ORM entities: a match run reads thousands of these, and building mapped
    # objects made the read take 2.5 times the CPU.
    stmt = (
        select(  # named as OpenListing's fields
            col(lst.id),
            col(lst.producer_id),
            col(lst.product),
            col(lst.grade),
            (col(lst.quantity_kg) - col(lst.reserved_kg)).label("available_kg"),
            col(lst.floor_price_fen),
            col(pro.latitude),
            col(pro.longitude),
            col(lst.available_from),
            col(lst.available_until),
            col(lst.shelf_life_days),
            col(pro.kind).label("producer_kind"),
        )
        .join(pro, col(pro.id) == col(lst.producer_id))
        .where(col(lst.reserved_kg) < col(lst.quantity_kg))
        .order_by(col(lst.id))
    )
    if product:
        stmt = stmt.where(col(lst.product) == product)
    if today:
        stmt = stmt.where(col(lst.available_until) >= today)
    if region_code:
        stmt = stmt.join(vil, col(vil.id) == col(pro.village_id)).where(
            col(vil.admin_code).startswith(region_code)
        )
    with store.transaction() as session:
        rows = session.execute(stmt).all()
        shares = _shares(session, {row.producer_id for row in rows})
    return [_listing(tuple(row), shares.get(row.producer_id, ())) for row in rows]


def _listing(row: tuple[Any, ...], shares: tuple[tuple[int, int], ...]) -> OpenListing:
    """A selected row as a record, from its positions: a dictionary per row cost as much as
    the record itself."""
    id_, producer, product, grade, kg, floor, lat, lng, start, until, shelf, kind = row
    if kind == pb.PRODUCER_HOUSEHOLD:
        lat, lng = coarse(lat, lng)
    return OpenListing(
        id_, producer, product, grade, kg, floor, lat, lng, start, until, shelf, shares
    )


def coarse(latitude: float, longitude: float) -> tuple[float, float]:
    """The point on the 0.01-degree grid nearest to it (about 1 km)."""
    return round(latitude, HOME_DECIMALS), round(longitude, HOME_DECIMALS)


def _shares(session: Session, producer_ids: set[str]) -> dict[str, tuple[tuple[int, int], ...]]:
    """Poverty shares of producers: household producers and cooperative members."""
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    ids = sorted(producer_ids)
    pro, hh, mem = models.Producer, models.Household, models.ProducerMember
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        direct = (
            select(col(pro.id), col(hh.status))
            .join(hh, col(hh.id) == col(pro.household_id))
            .where(col(pro.id).in_(chunk))
        )
        for producer_id, status in session.execute(direct):
            out[producer_id].append((status, 1000))
        members = (
            select(col(mem.producer_id), col(hh.status), col(mem.share_permille))
            .join(hh, col(hh.id) == col(mem.household_id))
            .where(col(mem.producer_id).in_(chunk))
        )
        for producer_id, status, share in session.execute(members):
            out[producer_id].append((status, share))
    return {k: tuple(v) for k, v in out.items()}


def open_orders(store: RegistryStore, *, product: str = "", today: str = "") -> list[OpenOrder]:
    """Orders with kilograms still to fill, not yet past their deliver-by date."""
    order, buyer = models.Order, models.Buyer
    stmt = (
        select(  # named as OpenOrder's fields
            col(order.id),
            col(order.buyer_id),
            col(order.product),
            col(order.accepted_grades),
            (col(order.min_quantity_kg) - col(order.filled_kg)).label("min_quantity_kg"),
            (col(order.max_quantity_kg) - col(order.filled_kg)).label("open_kg"),
            col(order.price_fen),
            col(buyer.latitude),
            col(buyer.longitude),
            col(order.deliver_by),
            col(order.max_distance_km),
        )
        .join(buyer, col(buyer.id) == col(order.buyer_id))
        .where(col(order.filled_kg) < col(order.max_quantity_kg))
        .order_by(col(order.id))
    )
    if product:
        stmt = stmt.where(col(order.product) == product)
    if today:
        stmt = stmt.where(col(order.deliver_by) >= today)
    with store.transaction() as session:
        rows = session.execute(stmt).all()
    return [
        OpenOrder(
            **{
                **row._mapping,
                "accepted_grades": tuple(row.accepted_grades),
                "min_quantity_kg": max(0, row.min_quantity_kg),
            }
        )
        for row in rows
    ]


def supply_generation(store: RegistryStore) -> tuple[int, str]:
    """A cheap fingerprint of the listings table: changes whenever a listing does (and so when
    an expired hold, swept here, gives its kilograms back)."""
    holds.sweep(store)
    lst = models.Listing
    with store.transaction() as session:
        count, latest, versions = session.execute(
            select(func.count(), func.max(lst.update_time), func.sum(lst.version))
        ).one()
    return int(count), f"{latest}/{versions}"
