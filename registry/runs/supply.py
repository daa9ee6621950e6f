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

import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Select, func, literal, select
from sqlmodel import Session, col

from fupin.registry.v1 import resources_pb2 as pb
from registry.resources import models
from registry.resources.store import RegistryStore
from registry.runs.bulk import no_gc
from registry.runs.data import OpenListing, OpenListingColumns, OpenOrder, Shares, share_codes
from registry.season import holds

HOME_DECIMALS = 2


def open_listings(
    store: RegistryStore, *, product: str = "", region_code: str = "", today: str = ""
) -> list[OpenListing]:
    """Listings with kilograms left, still available on `today`, in the region (by village).
    Kilograms held at checkouts count as taken; expired holds are swept first."""
    holds.sweep(store)
    stmt = _open_listings(product=product, region_code=region_code, today=today)
    with store.transaction() as session:
        rows = session.execute(stmt).all()
        shares = _shares(session, {row.producer_id for row in rows})
    return [_listing(tuple(row), shares.get(row.producer_id, ())) for row in rows]


def _open_listings(*, product: str, region_code: str, today: str) -> Select[*tuple[Any, ...]]:
    """The open listings' columns (OpenListing's, then the producer's kind), by id."""
    lst, pro, vil = models.Listing, models.Producer, models.Village
    # Columns, not ORM entities: a match run reads thousands of these, and building mapped
    # objects made the read take 2.5 times the CPU.
    stmt: Select[*tuple[Any, ...]] = (
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
    return stmt


def open_listing_columns(
    store: RegistryStore, *, product: str = "", region_code: str = "", today: str = ""
) -> OpenListingColumns:
    """open_listings as columns, read in one streamed pass (on PostgreSQL a server-side cursor,
    CHUNK_ROWS rows a fetch): each chunk goes straight into its columns, numbers into numpy
    arrays, so no object is built per listing. The same listings, points and shares."""
    holds.sweep(store)
    stmt = _open_listings(product=product, region_code=region_code, today=today)
    strings: list[list[str]] = [[] for _ in STRINGS]
    numbers: list[list[Any]] = [[] for _ in NUMBERS]
    kinds: list[Any] = []
    repeated: dict[str, str] = {}  # products, grades and dates: one string object each
    with store.transaction() as session, no_gc():
        for rows in _chunks(session, stmt):
            chunk = list(zip(*rows, strict=True))
            for column, k in zip(strings, STRINGS, strict=True):
                values = chunk[k] if k in UNIQUE else map(repeated.setdefault, chunk[k], chunk[k])
                column.extend(values)
            for parts, (k, dtype) in zip(numbers, NUMBERS, strict=True):
                parts.append(np.array(chunk[k], dtype))
            kinds.append(np.array(chunk[-1], np.int64))
        shares = _selection_shares(session, stmt)
    kind = _joined(kinds, np.int64)
    ids, producers = strings[0], strings[1]
    kg, floor, lat, lng, shelf = (_joined(p, d) for p, (_, d) in zip(numbers, NUMBERS, strict=True))
    _coarsen(lat, lng, np.flatnonzero(kind == pb.PRODUCER_HOUSEHOLD))
    share_kind, share_kinds = share_codes(list(map(shares.get, producers, itertools.repeat(()))))
    return OpenListingColumns(
        ids, producers, strings[2], strings[3], kg, floor, lat, lng, strings[4], strings[5],
        shelf, share_kind, share_kinds,
    )  # fmt: skip


CHUNK_ROWS = 50_000
# Positions in _open_listings' rows: the string columns, in OpenListingColumns' order (ids and
# producer ids are distinct, the others repeat), then the numbers with their types.
STRINGS = (0, 1, 2, 3, 8, 9)
UNIQUE = (0, 1)
NUMBERS = ((4, np.int64), (5, np.int64), (6, np.float64), (7, np.float64), (10, np.int64))


def _selection_shares(session: Session, stmt: Select[*tuple[Any, ...]]) -> dict[str, Shares]:
    """_shares of the producers of the listings `stmt` selects: two statements with the
    selection as their subquery (not two per 5,000 producer ids), streamed as the listings
    are, and only households and cooperatives asked (an enterprise has no shares)."""
    lst, pro, hh, mem = models.Listing, models.Producer, models.Household, models.ProducerMember
    sharing = (
        stmt.with_only_columns(col(lst.producer_id))
        .order_by(None)
        .where(col(pro.kind) != pb.PRODUCER_ENTERPRISE)
    )
    direct = (
        select(col(pro.id), col(hh.status), literal(1000))
        .join(hh, col(hh.id) == col(pro.household_id))
        .where(col(pro.id).in_(sharing))
    )
    members = (
        select(col(mem.producer_id), col(hh.status), col(mem.share_permille))
        .join(hh, col(hh.id) == col(mem.household_id))
        .where(col(mem.producer_id).in_(sharing))
        .order_by(col(mem.producer_id), col(mem.household_id))  # as _shares
    )
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for query in (direct, members):  # a household's own share, then members' (as _shares)
        for rows in _chunks(session, query):
            for producer_id, status, share in rows:
                out[producer_id].append((status, share))
    return {k: tuple(v) for k, v in out.items()}


def _chunks(session: Session, stmt: Select[*tuple[Any, ...]]) -> Iterator[Sequence[Any]]:
    """The statement's rows as tuples, CHUNK_ROWS at a time: on PostgreSQL from a server-side
    cursor of psycopg's own (SQLAlchemy's rows and its streaming, which fetched 100 rows a
    round trip, took 3 times the CPU of the whole read), elsewhere by the plain query."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        result = connection.execute(stmt)
        while rows := result.fetchmany(CHUNK_ROWS):
            yield rows
        return
    compiled = stmt.compile(dialect=connection.dialect)
    driver = connection.connection.driver_connection
    assert driver is not None
    # Every row is read: plan for all of them, not for the first tenth as a cursor's plan is
    # (which took twice the time on PostgreSQL 15).
    driver.execute("SET LOCAL cursor_tuple_fraction = 1.0")
    with driver.cursor(name="open_listings", binary=True) as cursor:  # in this transaction
        cursor.execute(str(compiled), compiled.params)
        while rows := cursor.fetchmany(CHUNK_ROWS):
            yield rows


def _coarsen(lat: Any, lng: Any, homes: Any) -> None:
    """The household producers' points (`homes`, by position) coarsened in place by coarse()
    itself, so that the grid is exactly the records' (Python's round, not numpy's)."""
    if homes.size:
        points = zip(*map(coarse, lat[homes].tolist(), lng[homes].tolist()), strict=True)
        lat[homes], lng[homes] = points


def _joined(parts: list[Any], dtype: Any) -> Any:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


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
            .order_by(col(mem.producer_id), col(mem.household_id))  # one order on any plan
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
