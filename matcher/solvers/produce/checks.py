"""Validation of ``ProduceColumns``, vectorised: the rules of ``problem.py`` on whole columns.

The error is the one ``ProduceProblem`` would raise first: listings (ids, then the lowest index
with a bad field, its fields in declaration order), orders, transport and lanes, bonus,
candidates; the same field paths and descriptions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from matcher.solvers.produce.problem import (
    MAX_FEN,
    MAX_KG,
    InvalidProduceProblem,
    _check_bonus,
    _check_candidates,
    _check_shares,
)
from matcher.solvers.produce.problem import (
    _unique_ids as _check_ids,
)

# columns.ProduceColumns, which validates itself with this module (so it is not imported here)
ProduceColumns = Any
BoolArray = npt.NDArray[np.bool_]
BEFORE = "is before available_from"
# (field, bad entries, description of entry i)
Rule = tuple[str, BoolArray, Callable[[int], str]]


def check_columns(p: ProduceColumns) -> None:
    ls, os_ = p.listings, p.orders
    n, m = len(ls), len(os_)
    _shapes("listings", ls, n)
    _shapes("orders", os_, m)
    _codes(p)
    _unique_ids("listings", ls.id)
    _first("listings", _listing_rules(p))
    _unique_ids("orders", os_.id)
    _first("orders", _order_rules(p))
    _check_transport(p)
    _check_bonus(p.bonus)
    _check_candidates(p.candidates, n, m)


def _shapes(path: str, table: object, size: int) -> None:
    for name, value in vars(table).items():
        if isinstance(value, np.ndarray) and value.shape[:1] != (size,):
            raise InvalidProduceProblem(f"{path}.{name}", f"must have {size} entries")
        if not isinstance(value, np.ndarray) and len(value) != size:
            raise InvalidProduceProblem(f"{path}.{name}", f"must have {size} entries")


def _codes(p: ProduceColumns) -> None:
    """Every code names an entry of its vocabulary."""
    ls, os_ = p.listings, p.orders
    for path, values, size in (
        ("listings.product", ls.product, len(p.products)),
        ("listings.grade", ls.grade, len(p.grades)),
        ("listings.shares", ls.shares, len(p.share_kinds)),
        ("orders.product", os_.product, len(p.products)),
    ):
        if values.size and (values.min() < 0 or values.max() >= size):
            raise InvalidProduceProblem(path, f"codes must be in 0..{size - 1}")


def _unique_ids(path: str, ids: Sequence[str]) -> None:
    if not (all(ids) and len(set(ids)) == len(ids)):
        _check_ids(path, list(ids))  # raises, naming the first empty or repeated id


def _first(path: str, rules: list[Rule]) -> None:
    """Raise for the lowest index with a bad entry, naming its first bad field."""
    firsts = [(int(np.argmax(bad)), k) for k, (_, bad, _) in enumerate(rules) if bad.any()]
    if firsts:
        i, k = min(firsts)
        name, _, describe = rules[k]
        raise InvalidProduceProblem(f"{path}[{i}].{name}", describe(i))


def _int_rule(name: str, values: npt.NDArray[np.int64], high: int, low: int = 0) -> Rule:
    bad = (values < low) | (values > high)
    return name, bad, lambda i: f"must be between {low} and {high}, got {values[i]}"


def _location_rules(lat: npt.NDArray[np.float64], lng: npt.NDArray[np.float64]) -> list[Rule]:
    with np.errstate(invalid="ignore"):
        bad_lat = ~(np.isfinite(lat) & (lat >= -90) & (lat <= 90))
        bad_lng = ~(np.isfinite(lng) & (lng >= -180) & (lng <= 180))
    return [
        ("lat", bad_lat, lambda i: f"must be a latitude in degrees, got {float(lat[i])}"),
        ("lng", bad_lng, lambda i: f"must be a longitude in degrees, got {float(lng[i])}"),
    ]


def _listing_rules(p: ProduceColumns) -> list[Rule]:
    ls = p.listings
    bad_kind = np.zeros(max(len(p.share_kinds), 1), np.bool_)
    for k, kind in enumerate(p.share_kinds):
        try:
            _check_shares("", kind)
        except InvalidProduceProblem:
            bad_kind[k] = True

    def shares(i: int) -> str:  # raises the exact error, with its path
        _check_shares(f"listings[{i}].shares", p.share_kinds[int(ls.shares[i])])
        raise AssertionError("a bad share kind passed its check")

    return [
        _int_rule("quantity_kg", ls.quantity, MAX_KG),
        _int_rule("floor_price_fen", ls.floor, MAX_FEN),
        _int_rule("shelf_life_days", ls.shelf_life, 100_000),
        *_location_rules(ls.lat, ls.lng),
        (
            "available_until",
            ls.available_from > ls.available_until,
            _const("is before available_from"),
        ),
        ("shares", bad_kind[ls.shares], shares),
    ]


def _const(text: str) -> Callable[[int], str]:
    return lambda _: text


def _order_rules(p: ProduceColumns) -> list[Rule]:
    os_ = p.orders
    limit = os_.max_km
    return [
        _int_rule("min_quantity_kg", os_.min_q, MAX_KG),
        _int_rule("max_quantity_kg", os_.max_q, MAX_KG),
        ("min_quantity_kg", os_.min_q > os_.max_q, _const("exceeds max_quantity_kg")),
        _int_rule("price_fen", os_.price, MAX_FEN),
        *_location_rules(os_.lat, os_.lng),
        (
            "max_distance_km",
            ~(limit >= 0),
            lambda j: f"must be >= 0, got {float(limit[j])}",
        ),
    ]


def _check_transport(p: ProduceColumns) -> None:
    t = p.transport
    if not (math.isfinite(t.road_factor) and t.road_factor >= 1):
        raise InvalidProduceProblem("transport.road_factor", "must be a finite number >= 1")
    rate = t.rate_fen_per_tonne_km
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or not 0 <= rate <= MAX_FEN:
        raise InvalidProduceProblem(
            "transport.rate_fen_per_tonne_km", f"must be between 0 and {MAX_FEN}, got {rate}"
        )
    if not (math.isfinite(t.speed_km_per_day) and t.speed_km_per_day > 0):
        raise InvalidProduceProblem("transport.speed_km_per_day", "must be positive")
    lanes = p.lanes
    n, m = len(p.listings), len(p.orders)
    for name, index, size in (("listing", lanes.listing, n), ("order", lanes.order, m)):
        if index.size and (index.min() < 0 or index.max() >= size):
            raise InvalidProduceProblem("transport.lanes", f"{name} index out of range")
    rules = [
        _int_rule("cost_fen_per_kg", lanes.cost, MAX_FEN),
        _int_rule("transit_days", lanes.transit, 100_000),
        _int_rule("min_lot_kg", lanes.min_lot, MAX_KG),
        _int_rule("fixed_cost_fen", lanes.fixed_cost, MAX_FEN),
        _int_rule("truck_capacity_kg", lanes.truck_capacity, MAX_KG),
    ]
    firsts = [(int(np.argmax(bad)), k) for k, (_, bad, _) in enumerate(rules) if bad.any()]
    if firsts:
        a, k = min(firsts)
        name, _, describe = rules[k]
        lid, oid = p.listings.id[int(lanes.listing[a])], p.orders.id[int(lanes.order[a])]
        raise InvalidProduceProblem(f"transport.lanes[{lid!r}, {oid!r}].{name}", describe(a))
