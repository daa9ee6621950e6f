"""Translation between fupin.matcher.v1 produce messages and the produce model's plain objects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service.convert import date
from matcher.service.source import OpenListing, OpenOrder
from matcher.solvers import produce
from matcher.solvers.common.solving import Objective
from registry.errors import InvalidArgument

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


def _transport(t: mpb.TransportConfig, lanes: dict[Any, Any]) -> produce.TransportConfig:
    defaults = produce.TransportConfig()
    return produce.TransportConfig(
        road_factor=t.road_factor or defaults.road_factor,
        rate_fen_per_tonne_km=t.rate_fen_per_tonne_km or defaults.rate_fen_per_tonne_km,
        speed_km_per_day=t.speed_km_per_day or defaults.speed_km_per_day,
        lanes=lanes,
    )


def inline_problem(p: mpb.ProduceProblem, goal: Objective) -> produce.ProduceProblem:
    """The model's problem from an inline request; bad fields raise InvalidArgument."""
    today = date("inline.today", p.today)
    listings = [_inline_listing(i, x) for i, x in enumerate(p.listings)]
    orders = [_inline_order(i, x) for i, x in enumerate(p.orders)]
    lanes = {
        (lane.listing_id, lane.order_id): produce.Lane(
            cost_fen_per_kg=lane.cost_fen_per_kg,
            transit_days=lane.transit_days,
            min_lot_kg=lane.min_lot_kg,
            fixed_cost_fen=lane.fixed_cost_fen,
            truck_capacity_kg=lane.truck_capacity_kg or None,
        )
        for lane in p.lanes
    }
    transport = _transport(p.transport, lanes)
    bonus = _bonus(p.bonus, p.HasField("bonus"))
    return _problem("inline.", listings, orders, today, transport, bonus, goal)


def _problem(
    prefix: str,
    listings: list[Any],
    orders: list[Any],
    today: dt.date,
    transport: produce.TransportConfig,
    bonus: produce.PovertyBonus,
    goal: Objective,
) -> produce.ProduceProblem:
    try:
        return produce.ProduceProblem(
            listings=tuple(listings),
            orders=tuple(orders),
            today=today,
            transport=transport,
            bonus=bonus,
            objective=goal,
        )
    except produce.InvalidProduceProblem as exc:
        field = exc.field.replace(".lat", ".location.latitude").replace(
            ".lng", ".location.longitude"
        )
        if field.startswith("transport.lanes"):
            field = "lanes"
        raise InvalidArgument.one(prefix + field, exc.description) from None


def _shares(path: str, shares: Sequence[mpb.PovertyShare]) -> produce.Shares:
    if not shares:
        return produce.household(produce.PovertyClass.NOT_POOR)
    for j, s in enumerate(shares):
        if s.poverty_class not in mpb.PovertyClass.values():
            raise InvalidArgument.one(
                f"{path}.shares[{j}].poverty_class", f"unknown value {s.poverty_class}"
            )
    return tuple(
        (produce.PovertyClass(max(0, s.poverty_class - 1)), s.share_permille / 1000) for s in shares
    )


def _inline_listing(i: int, x: mpb.InlineListing) -> produce.Listing:
    path = f"inline.listings[{i}]"
    return produce.Listing(
        id=x.id,
        product=x.product,
        grade=x.grade,
        quantity_kg=x.quantity_kg,
        floor_price_fen=x.floor_price_fen,
        lat=x.location.latitude,
        lng=x.location.longitude,
        available_from=date(f"{path}.available_from", x.available_from),
        available_until=date(f"{path}.available_until", x.available_until),
        shelf_life_days=x.shelf_life_days,
        shares=_shares(path, x.shares),
    )


def _inline_order(i: int, x: mpb.InlineOrder) -> produce.Order:
    return produce.Order(
        id=x.id,
        product=x.product,
        accepted_grades=frozenset(x.accepted_grades),
        min_quantity_kg=x.min_quantity_kg,
        max_quantity_kg=x.max_quantity_kg,
        price_fen=x.price_fen,
        lat=x.location.latitude,
        lng=x.location.longitude,
        deliver_by=date(f"inline.orders[{i}].deliver_by", x.deliver_by),
        max_distance_km=x.max_distance_km or None,
    )


def registry_problem(
    sel: mpb.RegistrySelection,
    listings: Sequence[OpenListing],
    orders: Sequence[OpenOrder],
    goal: Objective,
) -> produce.ProduceProblem:
    """The model's problem from open registry listings and orders."""
    model_listings = [
        produce.Listing(
            id=x.id,
            product=x.product,
            grade=x.grade,
            quantity_kg=x.available_kg,
            floor_price_fen=x.floor_price_fen,
            lat=x.latitude,
            lng=x.longitude,
            available_from=dt.date.fromisoformat(x.available_from),
            available_until=dt.date.fromisoformat(x.available_until),
            shelf_life_days=x.shelf_life_days,
            shares=tuple((CLASS_OF_STATUS[s], p / 1000) for s, p in x.shares)
            or produce.household(produce.PovertyClass.NOT_POOR),
        )
        for x in listings
    ]
    model_orders = [
        produce.Order(
            id=o.id,
            product=o.product,
            accepted_grades=frozenset(o.accepted_grades),
            min_quantity_kg=o.min_quantity_kg,
            max_quantity_kg=o.open_kg,
            price_fen=o.price_fen,
            lat=o.latitude,
            lng=o.longitude,
            deliver_by=dt.date.fromisoformat(o.deliver_by),
            max_distance_km=o.max_distance_km or None,
        )
        for o in orders
    ]
    today = date("selection.today", sel.today)
    transport = _transport(sel.transport, {})
    bonus = _bonus(sel.bonus, sel.HasField("bonus"))
    return _problem("selection.", model_listings, model_orders, today, transport, bonus, goal)


def produce_result(result: produce.ProduceResult) -> mpb.ProduceResult:
    out = mpb.ProduceResult(arcs=result.arcs, exact=result.method == "cp_sat")
    out.allocations.extend(
        mpb.ProduceAllocation(
            listing_id=a.listing_id,
            order_id=a.order_id,
            kg=a.kg,
            price_fen=a.price_fen,
            transport_fen=a.transport_fen,
            floor_fen=a.floor_fen,
            bonus_fen=a.bonus_fen,
            value_fen=a.price_fen - a.transport_fen - a.floor_fen + a.bonus_fen,
            distance_km=a.road_km,
        )
        for a in result.allocations
    )
    out.unsold.extend(
        mpb.UnsoldListing(
            listing_id=u.listing_id,
            unsold_kg=u.unsold_kg,
            reason=mpb.UnsoldReason.Value(u.reason.value),
            would_sell_at_floor_fen=u.would_sell_at_floor_fen or 0,
        )
        for u in result.unsold
    )
    out.orders.extend(
        mpb.OrderOutcome(
            order_id=o.order_id,
            filled_kg=o.filled_kg,
            shadow_price_fen=float(o.shadow_price_fen or 0),
        )
        for o in result.orders
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
