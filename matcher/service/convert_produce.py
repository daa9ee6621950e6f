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
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import wire
from matcher.service.convert import date
from matcher.service.source import OpenListing, OpenListingColumns, OpenOrder
from matcher.solvers import produce
from matcher.solvers.common.solving import Objective
from matcher.solvers.produce.columns import FloatArray, IntArray, accepts_matrix, codes
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
NOT_POOR = produce.household(produce.PovertyClass.NOT_POOR)
SHARE = attrgetter("poverty_class", "share_permille")


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


def _column(items: Sequence[Any], name: str) -> list[Any]:
    return list(map(attrgetter(name), items))


def _ints(items: Sequence[Any], name: str) -> IntArray:
    return np.fromiter(map(attrgetter(name), items), np.int64, len(items))


def _floats(items: Sequence[Any], name: str) -> FloatArray:
    return np.fromiter(map(attrgetter(name), items), np.float64, len(items))


def _ordinals(values: list[str], parse: Callable[[str], dt.date]) -> IntArray:
    """Date ordinals; each distinct date is parsed once. -1 where ``parse`` fails."""
    ordinal = {}
    for value in set(values):
        try:
            ordinal[value] = parse(value).toordinal()
        except (ValueError, InvalidArgument):
            ordinal[value] = -1
    return np.fromiter(map(ordinal.__getitem__, values), np.int64, len(values))


def _check_dates(path: str, fields: list[tuple[str, list[str], IntArray]]) -> None:
    """INVALID_ARGUMENT for the first item (then field) whose date does not parse."""
    firsts = [(int(np.argmax(o < 0)), k) for k, (_, _, o) in enumerate(fields) if (o < 0).any()]
    if firsts:
        i, k = min(firsts)
        name, values, _ = fields[k]
        date(f"{path}[{i}].{name}", values[i])  # raises, with the usual message


def _inline_shares(listings: Sequence[mpb.InlineListing], kinds: dict[Any, int]) -> Any:
    """Per listing the code of its shares' kind, and the kinds as model shares."""
    lists = _column(listings, "shares")
    single = set(map(len, lists)) == {1}  # every producer a household: one share each
    if single:
        raw: list[Any] = list(map(SHARE, map(itemgetter(0), lists)))
    else:
        raw = [tuple(map(SHARE, s)) for s in lists]
    code = codes(raw, kinds)
    known = set(mpb.PovertyClass.values())
    out = []
    for k, key in enumerate(kinds):
        kind = (key,) if single else key
        for j, (cls, _) in enumerate(kind):
            if cls not in known:
                i = int(np.argmax(code == k))
                raise InvalidArgument.one(
                    f"inline.listings[{i}].shares[{j}].poverty_class", f"unknown value {cls}"
                )
        out.append(
            tuple((produce.PovertyClass(max(0, c - 1)), p / 1000) for c, p in kind) or NOT_POOR
        )
    return code, tuple(out)


@dataclass
class _Vocabularies:
    """Codes of the strings of one problem: products, grades and share kinds."""

    products: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)
    kinds: dict[Any, int] = field(default_factory=dict)

    def parts(self, share_kinds: tuple[produce.Shares, ...]) -> dict[str, Any]:
        return {
            "products": tuple(self.products),
            "grades": tuple(self.grades),
            "share_kinds": share_kinds,
        }


def _listing_columns(
    ls: Sequence[Any],
    places: Sequence[Any],
    quantity: str,
    dates: tuple[IntArray, IntArray],
    shares: IntArray,
    vocab: _Vocabularies,
) -> produce.ListingColumns:
    """Listings' columns: ``places`` have their latitude and longitude; ``quantity`` names the
    attribute with the kilograms on offer."""
    return produce.ListingColumns(
        id=_column(ls, "id"),
        product=codes(_column(ls, "product"), vocab.products),
        grade=codes(_column(ls, "grade"), vocab.grades),
        quantity=_ints(ls, quantity),
        floor=_ints(ls, "floor_price_fen"),
        lat=_floats(places, "latitude"),
        lng=_floats(places, "longitude"),
        available_from=dates[0],
        available_until=dates[1],
        shelf_life=_ints(ls, "shelf_life_days"),
        shares=shares,
    )


def _order_columns(
    os_: Sequence[Any],
    places: Sequence[Any],
    max_quantity: str,
    deliver_by: IntArray,
    vocab: _Vocabularies,
) -> produce.OrderColumns:
    max_km = _floats(os_, "max_distance_km")
    return produce.OrderColumns(
        id=_column(os_, "id"),
        product=codes(_column(os_, "product"), vocab.products),
        accepts=accepts_matrix(_column(os_, "accepted_grades"), vocab.grades),
        min_q=_ints(os_, "min_quantity_kg"),
        max_q=_ints(os_, max_quantity),
        price=_ints(os_, "price_fen"),
        lat=_floats(places, "latitude"),
        lng=_floats(places, "longitude"),
        deliver_by=deliver_by,
        max_km=np.where(max_km == 0, math.inf, max_km),  # 0: no limit
    )


def inline_problem(p: mpb.ProduceProblem, goal: Objective) -> produce.ProduceColumns:
    """The model's problem from an inline request; bad fields raise InvalidArgument."""
    today = date("inline.today", p.today)
    vocab = _Vocabularies()
    with no_gc():
        ls, os_ = list(p.listings), list(p.orders)
        froms, untils = _column(ls, "available_from"), _column(ls, "available_until")
        dates = [
            ("available_from", froms, _ordinals(froms, iso_date)),
            ("available_until", untils, _ordinals(untils, iso_date)),
        ]
        _check_dates("inline.listings", dates)
        share_codes, share_kinds = _inline_shares(ls, vocab.kinds)
        listings = _listing_columns(
            ls,
            _column(ls, "location"),
            "quantity_kg",
            (dates[0][2], dates[1][2]),
            share_codes,
            vocab,
        )
        deliver = _column(os_, "deliver_by")
        deliver_by = _ordinals(deliver, iso_date)
        _check_dates("inline.orders", [("deliver_by", deliver, deliver_by)])
        orders = _order_columns(os_, _column(os_, "location"), "max_quantity_kg", deliver_by, vocab)
    return _problem(
        "inline.",
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
        cost=_ints(rows, "cost_fen_per_kg"),
        transit=_ints(rows, "transit_days"),
        min_lot=_ints(rows, "min_lot_kg"),
        fixed_cost=_ints(rows, "fixed_cost_fen"),
        truck_capacity=_ints(rows, "truck_capacity_kg"),
    )


def _problem(prefix: str, **parts: Any) -> produce.ProduceColumns:
    try:
        return produce.ProduceColumns(**parts)
    except produce.InvalidProduceProblem as exc:
        field = exc.field.replace(".lat", ".location.latitude").replace(
            ".lng", ".location.longitude"
        )
        if field.startswith("transport.lanes"):
            field = "lanes"
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
    vocab = _Vocabularies()
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
            available_from=_ordinals(ls.available_from, parse),
            available_until=_ordinals(ls.available_until, parse),
            shelf_life=ls.shelf_life_days,
            shares=ls.share_kind,
        )
        deliver_by = _ordinals(_column(orders, "deliver_by"), parse)
        model_orders = _order_columns(orders, orders, "open_kg", deliver_by, vocab)
    return _problem(
        "selection.",
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
