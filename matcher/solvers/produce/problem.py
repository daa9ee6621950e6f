"""Produce allocation input: listings (supply), orders (demand), transport and the poverty tilt.

Plain frozen dataclasses; ``ProduceProblem`` validates everything on construction and raises
``InvalidProduceProblem`` (a ``ValueError``) naming the offending field, e.g.
``listings[3].quantity_kg``, so a servicer can turn it into a field violation.
"""

from __future__ import annotations

import datetime
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.solving import Objective


class PovertyClass(enum.IntEnum):
    """A producer household's poverty status; a larger value has higher priority."""

    NOT_POOR = 0
    LIFTED_OUT = 1  # 已脱贫
    RETURNED = 2  # 返贫: lifted out before, poor again
    AT_RISK = 3  # 边缘易致贫
    IMPOVERISHED = 4  # 建档立卡贫困户


# Whose kilograms POVERTY_FIRST maximises first.
PRIORITY_CLASSES = frozenset({PovertyClass.IMPOVERISHED, PovertyClass.AT_RISK})

Shares = tuple[tuple[PovertyClass, float], ...]


def household(poverty_class: PovertyClass) -> Shares:
    """Shares of a single-household producer: all of it in one class."""
    return ((poverty_class, 1.0),)


NOT_POOR_HOUSEHOLD: Shares = ((PovertyClass.NOT_POOR, 1.0),)


@dataclass(frozen=True)
class Listing:
    """Supply: ``quantity_kg`` of one product and grade offered at a floor price per kg.

    ``shares`` splits the producer by poverty class: a household is ``household(cls)``; a
    cooperative lists its members' shares (fractions summing to 1), and its poverty bonus and
    priority kilograms are share-weighted.
    """

    id: str
    product: str
    grade: str
    quantity_kg: int
    floor_price_fen: int
    lat: float
    lng: float
    available_from: datetime.date
    available_until: datetime.date
    shelf_life_days: int
    shares: Shares = NOT_POOR_HOUSEHOLD


@dataclass(frozen=True)
class Order:
    """Demand: up to ``max_quantity_kg`` (and, if ``min_quantity_kg`` > 0, that much or none)."""

    id: str
    product: str
    accepted_grades: frozenset[str]
    min_quantity_kg: int
    max_quantity_kg: int
    price_fen: int
    lat: float
    lng: float
    deliver_by: datetime.date
    max_distance_km: float | None = None  # road km (great-circle × road factor)


@dataclass(frozen=True)
class Lane:
    """A known listing → order lane that overrides the computed transport cost and time.

    ``min_lot_kg``: ship nothing or at least this much. ``fixed_cost_fen`` is charged per truck
    of ``truck_capacity_kg``; without a truck capacity it is charged once if the lane is used.
    """

    cost_fen_per_kg: int
    transit_days: int
    min_lot_kg: int = 0
    fixed_cost_fen: int = 0
    truck_capacity_kg: int | None = None


@dataclass(frozen=True)
class TransportConfig:
    """Road transport estimate: cost per kg = ⌈great-circle km × road factor × rate / 1000⌉.

    Defaults: 0.45 yuan per tonne-km (bulk refrigerated road freight in south China) and 500 km
    a day (one driver, mountain roads).
    """

    road_factor: float = 1.3
    rate_fen_per_tonne_km: int = 45
    speed_km_per_day: float = 500.0
    lanes: Mapping[tuple[str, str], Lane] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class PovertyBonus:
    """Fen per kg added to an arc's value under WELFARE, by the producer's poverty class.

    The defaults rise with priority (``PovertyClass`` order) so the tilt never contradicts
    POVERTY_FIRST's ranking; returned-to-poverty households rank below at-risk ones there.
    """

    impoverished_fen: int = 60
    at_risk_fen: int = 40
    returned_fen: int = 30
    lifted_out_fen: int = 10
    not_poor_fen: int = 0

    def per_kg(self, poverty_class: PovertyClass) -> int:
        return {
            PovertyClass.IMPOVERISHED: self.impoverished_fen,
            PovertyClass.AT_RISK: self.at_risk_fen,
            PovertyClass.RETURNED: self.returned_fen,
            PovertyClass.LIFTED_OUT: self.lifted_out_fen,
            PovertyClass.NOT_POOR: self.not_poor_fen,
        }[poverty_class]


IndexArray = npt.NDArray[np.int64]


class InvalidProduceProblem(ValueError):
    """Bad input; ``field`` is the path of the offending value, e.g. ``orders[2].price_fen``."""

    def __init__(self, field_path: str, description: str) -> None:
        super().__init__(f"{field_path}: {description}")
        self.field = field_path
        self.description = description


@dataclass(frozen=True, kw_only=True)
class ProduceProblem:
    """Everything one produce solve needs.

    ``candidates`` optionally restricts arcs to given (listing index, order index) pairs,
    e.g. the 30 nearest orders per listing, so 100,000 × 1,000 instances stay sparse.
    """

    listings: tuple[Listing, ...]
    orders: tuple[Order, ...]
    today: datetime.date
    transport: TransportConfig = TransportConfig()
    bonus: PovertyBonus = PovertyBonus()
    objective: Objective = Objective.WELFARE
    candidates: tuple[IndexArray, IndexArray] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "listings", tuple(self.listings))
        object.__setattr__(self, "orders", tuple(self.orders))
        _check_listings(self.listings)
        _check_orders(self.orders)
        _check_transport(self.transport, self.listings, self.orders)
        _check_bonus(self.bonus)
        _check_candidates(self.candidates, len(self.listings), len(self.orders))


# Keeps every product of quantities, prices and counts inside int64 (and CP-SAT's bounds).
MAX_KG = 10**12
MAX_FEN = 10**9


def _int(path: str, value: object, low: int = 0, high: int = MAX_FEN) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidProduceProblem(path, f"must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise InvalidProduceProblem(path, f"must be between {low} and {high}, got {value}")


def _location(path: str, lat: float, lng: float) -> None:
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise InvalidProduceProblem(f"{path}.lat", f"must be a latitude in degrees, got {lat}")
    if not (math.isfinite(lng) and -180 <= lng <= 180):
        raise InvalidProduceProblem(f"{path}.lng", f"must be a longitude in degrees, got {lng}")


def _unique_ids(path: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, id_ in enumerate(ids):
        if not id_:
            raise InvalidProduceProblem(f"{path}[{i}].id", "must not be empty")
        if id_ in seen:
            raise InvalidProduceProblem(f"{path}[{i}].id", f"duplicate id {id_!r}")
        seen.add(id_)


def _check_shares(path: str, shares: Shares) -> None:
    if not shares:
        raise InvalidProduceProblem(path, "must list at least one share")
    for k, (cls, fraction) in enumerate(shares):
        if not isinstance(cls, PovertyClass):
            raise InvalidProduceProblem(f"{path}[{k}]", f"not a PovertyClass: {cls!r}")
        if not (math.isfinite(fraction) and 0 <= fraction <= 1):
            raise InvalidProduceProblem(
                f"{path}[{k}]", f"fraction must be in [0, 1], got {fraction}"
            )
    total = math.fsum(fraction for _, fraction in shares)
    if abs(total - 1) > 1e-6:
        raise InvalidProduceProblem(path, f"fractions must sum to 1, got {total}")


def _check_listings(listings: tuple[Listing, ...]) -> None:
    _unique_ids("listings", [listing.id for listing in listings])
    for i, listing in enumerate(listings):
        path = f"listings[{i}]"
        _int(f"{path}.quantity_kg", listing.quantity_kg, high=MAX_KG)
        _int(f"{path}.floor_price_fen", listing.floor_price_fen)
        _int(f"{path}.shelf_life_days", listing.shelf_life_days, high=100_000)
        _location(path, listing.lat, listing.lng)
        if listing.available_from > listing.available_until:
            raise InvalidProduceProblem(f"{path}.available_until", "is before available_from")
        _check_shares(f"{path}.shares", listing.shares)


def _check_orders(orders: tuple[Order, ...]) -> None:
    _unique_ids("orders", [order.id for order in orders])
    for j, order in enumerate(orders):
        path = f"orders[{j}]"
        _int(f"{path}.min_quantity_kg", order.min_quantity_kg, high=MAX_KG)
        _int(f"{path}.max_quantity_kg", order.max_quantity_kg, high=MAX_KG)
        if order.min_quantity_kg > order.max_quantity_kg:
            raise InvalidProduceProblem(f"{path}.min_quantity_kg", "exceeds max_quantity_kg")
        _int(f"{path}.price_fen", order.price_fen)
        _location(path, order.lat, order.lng)
        limit = order.max_distance_km
        if limit is not None and not (limit >= 0 and not math.isnan(limit)):
            raise InvalidProduceProblem(f"{path}.max_distance_km", f"must be >= 0, got {limit}")


def _check_lane(path: str, lane: Lane) -> None:
    _int(f"{path}.cost_fen_per_kg", lane.cost_fen_per_kg)
    _int(f"{path}.transit_days", lane.transit_days, high=100_000)
    _int(f"{path}.min_lot_kg", lane.min_lot_kg, high=MAX_KG)
    _int(f"{path}.fixed_cost_fen", lane.fixed_cost_fen)
    if lane.truck_capacity_kg is not None:
        _int(f"{path}.truck_capacity_kg", lane.truck_capacity_kg, low=1, high=MAX_KG)


def _check_transport(
    transport: TransportConfig, listings: tuple[Listing, ...], orders: tuple[Order, ...]
) -> None:
    if not (math.isfinite(transport.road_factor) and transport.road_factor >= 1):
        raise InvalidProduceProblem("transport.road_factor", "must be a finite number >= 1")
    _int("transport.rate_fen_per_tonne_km", transport.rate_fen_per_tonne_km)
    if not (math.isfinite(transport.speed_km_per_day) and transport.speed_km_per_day > 0):
        raise InvalidProduceProblem("transport.speed_km_per_day", "must be positive")
    listing_ids = {listing.id for listing in listings}
    order_ids = {order.id for order in orders}
    for (listing_id, order_id), lane in transport.lanes.items():
        path = f"transport.lanes[{listing_id!r}, {order_id!r}]"
        if listing_id not in listing_ids:
            raise InvalidProduceProblem(path, f"unknown listing id {listing_id!r}")
        if order_id not in order_ids:
            raise InvalidProduceProblem(path, f"unknown order id {order_id!r}")
        _check_lane(path, lane)


def _check_bonus(bonus: PovertyBonus) -> None:
    for cls in PovertyClass:
        _int(f"bonus.{cls.name.lower()}_fen", bonus.per_kg(cls))


def _check_candidates(
    candidates: tuple[IndexArray, IndexArray] | None, n_listings: int, n_orders: int
) -> None:
    if candidates is None:
        return
    if len(candidates) != 2:
        raise InvalidProduceProblem("candidates", "must be (listing indices, order indices)")
    for k, (name, size) in enumerate((("listing", n_listings), ("order", n_orders))):
        arr = np.asarray(candidates[k])
        path = f"candidates[{k}]"
        if arr.ndim != 1 or arr.shape != np.shape(candidates[0]):
            raise InvalidProduceProblem(path, "must be 1-D and as long as candidates[0]")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InvalidProduceProblem(path, f"{name} indices must be integers")
        if arr.size and (arr.min() < 0 or arr.max() >= size):
            raise InvalidProduceProblem(path, f"{name} index out of range 0..{size - 1}")
