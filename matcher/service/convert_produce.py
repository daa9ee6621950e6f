"""Translation between fupin.matcher.v1 produce messages and the produce model's columns.

Column-wise both ways: a request's listings and orders become one numpy array per field (one
C-level pass of attribute reads per field, dates parsed once per distinct value, validation on
whole arrays), and a result's columns become the response's repeated fields. 100,000 listings
convert in a fraction of a second, where a dataclass per listing took seconds.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import wire
from matcher.service.convert import date
from matcher.service.convert_listings import (
    NOT_POOR,
    ColumnPaths,
    Vocabularies,
    check_dates,
    column,
    float_column,
    int_column,
    listings_of_columns,
    listings_of_messages,
    message_path,
    ordinals,
)
from matcher.service.source import OpenListing, OpenListingColumns, OpenOrder
from matcher.solvers import produce
from matcher.solvers.common.solving import Objective
from matcher.solvers.produce.columns import IntArray, accepts_matrix, codes
from matcher.solvers.produce.result import REASONS
from registry.errors import InvalidArgument
from registry.resources.checks import iso_date
from registry.runs.bulk import no_gc

# HouseholdStatus (registry) -> PovertyClass (model)
CLASS_OF_STATUS = {
    1: produce.PovertyClass.IMPOVERISHED,
    2: produce.PovertyClass.AT_RISK,
    3: produce.PovertyClass.LIFTED_OUT,
    4: produce.PovertyClass.RETURNED,
}


def objective(value: int) -> Objective:
    return Objective.POVERTY_FIRST if value == mpb.POVERTY_FIRST else Objective.WELFARE


def _bonus(b: mpb.PovertyBonus, present: bool) -> produce.PovertyBonus:
    if not present:
        return produce.PovertyBonus()
    return produce.PovertyBonus(
        impoverished_fen=b.impoverished_fen,
        at_risk_fen=b.at_risk_fen,
        returned_fen=b.returned_fen,
        lifted_out_fen=b.lifted_out_fen,
        not_poor_fen=b.not_poor_fen,
    )


def _transport(t: mpb.TransportConfig) -> produce.TransportConfig:
    defaults = produce.TransportConfig()
    return produce.TransportConfig(
        road_factor=t.road_factor or defaults.road_factor,
        rate_fen_per_tonne_km=t.rate_fen_per_tonne_km or defaults.rate_fen_per_tonne_km,
        speed_km_per_day=t.speed_km_per_day or defaults.speed_km_per_day,
    )


def _order_columns(
    os_: Sequence[Any],
    places: Sequence[Any],
    max_quantity: str,
    deliver_by: IntArray,
    vocab: Vocabularies,
) -> produce.OrderColumns:
    max_km = float_column(os_, "max_distance_km")
    return produce.OrderColumns(
        id=column(os_, "id"),
        product=codes(column(os_, "product"), vocab.products),
        accepts=accepts_matrix(column(os_, "accepted_grades"), vocab.grades),
        min_q=int_column(os_, "min_quantity_kg"),
        max_q=int_column(os_, max_quantity),
        price=int_column(os_, "price_fen"),
        lat=float_column(places, "latitude"),
        lng=float_column(places, "longitude"),
        deliver_by=deliver_by,
        max_km=np.where(max_km == 0, math.inf, max_km),  # 0: no limit
    )


def inline_listing_count(p: mpb.ProduceProblem) -> int:
    """The listings an inline problem holds, as messages or as columns."""
    return len(p.listing_columns.id) if p.HasField("listing_columns") else len(p.listings)


def inline_problem(p: mpb.ProduceProblem, goal: Objective) -> produce.ProduceColumns:
    """The model's problem from an inline request; bad fields raise InvalidArgument."""
    today = date("inline.today", p.today)
    vocab = Vocabularies()
    columnar = p.HasField("listing_columns")
    if columnar and p.listings:
        raise InvalidArgument.one(
            "inline.listing_columns", "set either listings or listing_columns, not both"
        )
    with no_gc():
        if columnar:
            listings, share_kinds = listings_of_columns(p.listing_columns, vocab)
        else:
            listings, share_kinds = listings_of_messages(p.listings, vocab)
        os_ = list(p.orders)
        deliver = column(os_, "deliver_by")
        deliver_by = ordinals(deliver, iso_date)
        check_dates("inline.orders", [("deliver_by", deliver, deliver_by)])
        orders = _order_columns(os_, column(os_, "location"), "max_quantity_kg", deliver_by, vocab)
    return _problem(
        "inline.",
        ColumnPaths(listings.shares) if columnar else message_path,
        listings=listings,
        orders=orders,
        **vocab.parts(share_kinds),
        today=today.toordinal(),
        lanes=_inline_lanes(p.lanes, listings.id, orders.id),
        transport=_transport(p.transport),
        bonus=_bonus(p.bonus, p.HasField("bonus")),
        objective=goal,
    )


def _inline_lanes(
    lanes: Sequence[mpb.Lane], listing_ids: Sequence[str], order_ids: Sequence[str]
) -> produce.LaneColumns:
    """Lanes by listing and order index; a later lane for the same pair replaces an earlier."""
    by_pair = {(lane.listing_id, lane.order_id): lane for lane in lanes}
    if not by_pair:
        return produce.LaneColumns.empty()
    l_index = {x: i for i, x in enumerate(listing_ids)}
    o_index = {x: j for j, x in enumerate(order_ids)}
    for listing_id, order_id in by_pair:
        if listing_id not in l_index:
            raise InvalidArgument.one("inline.lanes", f"unknown listing id {listing_id!r}")
        if order_id not in o_index:
            raise InvalidArgument.one("inline.lanes", f"unknown order id {order_id!r}")
    rows = list(by_pair.values())
    return produce.LaneColumns(
        listing=np.array([l_index[x.listing_id] for x in rows], np.int64),
        order=np.array([o_index[x.order_id] for x in rows], np.int64),
        cost=int_column(rows, "cost_fen_per_kg"),
        transit=int_column(rows, "transit_days"),
        min_lot=int_column(rows, "min_lot_kg"),
        fixed_cost=int_column(rows, "fixed_cost_fen"),
        truck_capacity=int_column(rows, "truck_capacity_kg"),
    )


def _problem(prefix: str, path: Callable[[str], str], **parts: Any) -> produce.ProduceColumns:
    """The model's problem; its InvalidProduceProblem as InvalidArgument naming the request's
    field (``path``: the request's name of a model's field)."""
    try:
        return produce.ProduceColumns(**parts)
    except produce.InvalidProduceProblem as exc:
        field = "lanes" if exc.field.startswith("transport.lanes") else path(exc.field)
        raise InvalidArgument.one(prefix + field, exc.description) from None


def registry_problem(
    sel: mpb.RegistrySelection,
    listings: Sequence[OpenListing],
    orders: Sequence[OpenOrder],
    goal: Objective,
) -> produce.ProduceColumns:
    """The model's problem from open registry listings (as records) and orders."""
    return registry_columns_problem(sel, OpenListingColumns.of(listings), orders, goal)


def registry_columns_problem(
    sel: mpb.RegistrySelection,
    listings: OpenListingColumns,
    orders: Sequence[OpenOrder],
    goal: Objective,
) -> produce.ProduceColumns:
    """registry_problem of the listings read as columns: their arrays are the model's, with
    no object made per listing (the same problem as from their records)."""
    today = date("selection.today", sel.today)
    vocab = Vocabularies()
    parse = dt.date.fromisoformat
    with no_gc():
        ls = listings
        vocab.kinds.update(zip(ls.share_kinds, itertools.count()))  # codes() in order
        model_listings = produce.ListingColumns(
            id=ls.id,
            product=codes(ls.product, vocab.products),
            grade=codes(ls.grade, vocab.grades),
            quantity=ls.available_kg,
            floor=ls.floor_price_fen,
            lat=ls.latitude,
            lng=ls.longitude,
            available_from=ordinals(ls.available_from, parse),
            available_until=ordinals(ls.available_until, parse),
            shelf_life=ls.shelf_life_days,
            shares=ls.share_kind,
        )
        deliver_by = ordinals(column(orders, "deliver_by"), parse)
        model_orders = _order_columns(orders, orders, "open_kg", deliver_by, vocab)
    return _problem(
        "selection.",
        message_path,
        listings=model_listings,
        orders=model_orders,
        **vocab.parts(_registry_kinds(ls.share_kinds)),
        today=today.toordinal(),
        transport=_transport(sel.transport),
        bonus=_bonus(sel.bonus, sel.HasField("bonus")),
        objective=goal,
    )


def _registry_kinds(kinds: Sequence[Any]) -> tuple[produce.Shares, ...]:
    """The model's shares of each kind of registry shares ((status, permille), ...)."""
    return tuple(tuple((CLASS_OF_STATUS[s], p / 1000) for s, p in k) or NOT_POOR for k in kinds)


REASON_VALUES = [mpb.UnsoldReason.Value(r.value) for r in REASONS]


def produce_result(result: produce.ProduceResult) -> mpb.ProduceResult:
    """The result message, its lists written from the result's columns (``wire``)."""
    out = mpb.ProduceResult(arcs=result.arcs, exact=result.method == "cp_sat")
    fields = mpb.ProduceResult.DESCRIPTOR.fields_by_name
    a = result.allocation_columns
    allocations = {
        "listing_id": (a.listing_ids, a.listing),
        "order_id": (a.order_ids, a.order),
        "kg": a.kg,
        "price_fen": a.price,
        "transport_fen": a.transport,
        "floor_fen": a.floor,
        "bonus_fen": a.bonus,
        "value_fen": a.price - a.transport - a.floor + a.bonus,
        "distance_km": a.road_km,
    }
    u = result.unsold_columns
    unsold = {
        "listing_id": (u.listing_ids, u.listing),
        "unsold_kg": u.unsold_kg,
        "reason": np.asarray(REASON_VALUES, np.int64)[u.reason],
        "would_sell_at_floor_fen": np.maximum(u.would_sell_at_floor_fen, 0),  # NO_FLOOR: 0
    }
    o = result.order_columns
    orders = {
        "order_id": o.order_ids,
        "filled_kg": o.filled_kg,
        "shadow_price_fen": np.where(o.has_shadow_price, o.shadow_price_fen, 0).astype(np.float64),
    }
    out.MergeFromString(
        b"".join(
            [
                wire.repeated(fields["allocations"], a.kg.size, allocations),
                wire.repeated(fields["unsold"], u.listing.size, unsold),
                wire.repeated(fields["orders"], len(o.order_ids), orders),
            ]
        )
    )
    out.kpis.CopyFrom(produce_kpis(result.kpis))
    return out


def produce_kpis(k: produce.ProduceKpis) -> mpb.ProduceKpis:
    return mpb.ProduceKpis(
        kg_sold=k.kg_sold,
        poor_kg_sold=round(k.priority_kg_sold),
        poor_income_fen=round(k.priority_income_fen),
        unsold_kg=k.unsold_kg,
        poor_income_gini=k.priority_income_gini,
    )
