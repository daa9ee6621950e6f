"""Tiny produce instances for the produce tests (no tests here; imported by the others).

Zhao'an green plums (Fujian) sold to a Puning processing plant (Guangdong): 111 km great
circle, 144.6 road km, so 7 fen/kg of transport at the default 45 fen per tonne-km and one
day in transit.
"""

from __future__ import annotations

import datetime
from typing import Any

from matcher.solvers.produce import (
    Lane,
    Listing,
    Order,
    PovertyClass,
    ProduceProblem,
    ProduceResult,
    TransportConfig,
    household,
)

TODAY = datetime.date(2020, 5, 10)
ZHAOAN = (23.71, 117.18)
PUNING = (23.30, 116.17)
TRANSPORT_FEN = 7  # Zhao'an → Puning per kg
ROAD_KM = 144.6  # rounded


def days(n: int) -> datetime.date:
    return TODAY + datetime.timedelta(days=n)


def listing(id: str = "L1", *, poverty: PovertyClass = PovertyClass.NOT_POOR, **kw: Any) -> Listing:
    fields: dict[str, Any] = {
        "id": id,
        "product": "green_plum",
        "grade": "A",
        "quantity_kg": 100,
        "floor_price_fen": 150,
        "lat": ZHAOAN[0],
        "lng": ZHAOAN[1],
        "available_from": days(-5),
        "available_until": days(20),
        "shelf_life_days": 10,
        "shares": household(poverty),
    }
    fields.update(kw)
    return Listing(**fields)


def order(id: str = "O1", **kw: Any) -> Order:
    fields: dict[str, Any] = {
        "id": id,
        "product": "green_plum",
        "accepted_grades": frozenset({"A", "B"}),
        "min_quantity_kg": 0,
        "max_quantity_kg": 100,
        "price_fen": 300,
        "lat": PUNING[0],
        "lng": PUNING[1],
        "deliver_by": days(7),
    }
    fields.update(kw)
    return Order(**fields)


def problem(
    listings: list[Listing],
    orders: list[Order],
    lanes: dict[tuple[str, str], Lane] | None = None,
    **kw: Any,
) -> ProduceProblem:
    return ProduceProblem(
        listings=tuple(listings),
        orders=tuple(orders),
        today=TODAY,
        transport=TransportConfig(lanes=lanes or {}),
        **kw,
    )


def shipped(result: ProduceResult) -> dict[tuple[str, str], int]:
    """Kg per (listing id, order id)."""
    return {(a.listing_id, a.order_id): a.kg for a in result.allocations}


def sold(result: ProduceResult, listing_id: str) -> int:
    return sum(a.kg for a in result.allocations if a.listing_id == listing_id)
