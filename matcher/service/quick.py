"""Quick sourcing for an e-commerce checkout: the best open listings for one order, fast.

Open listings are held in memory as numpy arrays per product and reloaded in the background
when the registry's listings change (a cheap fingerprint is checked every second), so a
request costs one vectorised pass over the product's listings and no database round trip:
distance, transport, the same hard constraints as the produce model, then the top candidates
by value per kg.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import convert_produce as convert
from matcher.service.convert import date
from matcher.service.source import OpenListing, RegistrySource
from matcher.solvers import produce
from matcher.solvers.common.geo import great_circle_km
from matcher.solvers.produce.screen import (
    fits_dates,
    floor_covered,
    within_distance,
    within_shelf_life,
)
from registry.access import policy as access
from registry.errors import Aborted, FieldViolation, InvalidArgument
from registry.resources.requests import RESOURCE_ID, checked_request_id, fingerprint
from registry.runs.data import HeldKg, HoldTerms
from registry.season.convert_hold import hold_proto

log = structlog.get_logger(__name__)
REFRESH_S = 1.0  # how often to look for changed listings; commits re-check availability anyway
MAX_RESULTS = 100
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ProductSupply:
    """Open listings of one product, column-wise."""

    ids: tuple[str, ...]
    producer_ids: tuple[str, ...]
    grades: npt.NDArray[np.str_]
    available_kg: IntArray
    floor: IntArray
    lat: npt.NDArray[np.float64]
    lng: npt.NDArray[np.float64]
    available_from: IntArray  # date ordinals
    available_until: IntArray
    shelf_life: IntArray
    bonus: IntArray  # fen per kg, share-weighted, at the default poverty bonus
    poverty_class: IntArray  # mpb.PovertyClass of the largest share


def build_supply(listings: list[OpenListing]) -> dict[str, ProductSupply]:
    by_product: dict[str, list[OpenListing]] = {}
    for x in listings:
        by_product.setdefault(x.product, []).append(x)
    return {product: _columns(rows) for product, rows in by_product.items()}


def _columns(rows: list[OpenListing]) -> ProductSupply:
    bonus = produce.PovertyBonus()
    classes = [
        [(convert.CLASS_OF_STATUS[s], p) for s, p in x.shares]
        or [(produce.PovertyClass.NOT_POOR, 1000)]
        for x in rows
    ]
    return ProductSupply(
        ids=tuple(x.id for x in rows),
        producer_ids=tuple(x.producer_id for x in rows),
        grades=np.array([x.grade for x in rows]),
        available_kg=np.array([x.available_kg for x in rows], np.int64),
        floor=np.array([x.floor_price_fen for x in rows], np.int64),
        lat=np.array([x.latitude for x in rows]),
        lng=np.array([x.longitude for x in rows]),
        available_from=np.array([_ordinal(x.available_from) for x in rows], np.int64),
        available_until=np.array([_ordinal(x.available_until) for x in rows], np.int64),
        shelf_life=np.array([x.shelf_life_days for x in rows], np.int64),
        bonus=np.array(
            [round(sum(bonus.per_kg(c) * p for c, p in cs) / 1000) for cs in classes], np.int64
        ),
        poverty_class=np.array([int(max(cs, key=lambda cp: cp[1])[0]) + 1 for cs in classes]),
    )


def _ordinal(iso: str) -> int:
    return dt.date.fromisoformat(iso).toordinal()


class QuickSourcer:
    """Answers QuickSource from an in-memory copy of open supply."""

    def __init__(self, source: RegistrySource, refresh_s: float = REFRESH_S) -> None:
        self.registry = source
        self.refresh_s = refresh_s
        self._supply: dict[str, ProductSupply] | None = None
        self._generation: object = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def supply(self) -> dict[str, ProductSupply]:
        """The current copy: loaded now if missing; checked for changes in the background at
        most every refresh_s, and reloaded there only when the listings changed."""
        if self._supply is None:
            with self._lock:
                if self._supply is None:
                    self._reload(self.registry.supply_generation())
        elif time.monotonic() - self._checked_at > self.refresh_s and self._lock.acquire(False):
            self._checked_at = time.monotonic()
            threading.Thread(target=self._refresh_and_release, daemon=True).start()
        assert self._supply is not None
        return self._supply

    def _refresh_and_release(self) -> None:
        try:
            generation = self.registry.supply_generation()
            if generation != self._generation:
                self._reload(generation)
        except Exception:  # a failed refresh keeps the old copy; the next check retries
            log.warning("quick_supply_refresh_failed", exc_info=True)
        finally:
            self._lock.release()

    def _reload(self, generation: object) -> None:
        started = time.perf_counter()
        listings = self.registry.open_listings(product="", region_code="", today="")
        self._supply = build_supply(listings)
        self._generation = generation
        self._checked_at = time.monotonic()
        seconds = round(time.perf_counter() - started, 3)
        log.info("quick_supply_loaded", listings=len(listings), seconds=seconds)

    def answer(self, request: mpb.QuickSourceRequest) -> mpb.QuickSourceResponse:
        order = _checked(request)
        supply = self.supply().get(order.product)
        response = mpb.QuickSourceResponse()
        if supply is None and request.HasField("hold"):
            raise Aborted(f"no open listing of {order.product} fits the order: nothing to hold")
        if supply is None:
            return response
        limit = request.max_results or 10
        ranked = rank(supply, order, request.today, limit)
        for i, take, value, transport, km in ranked:
            response.candidates.add(
                listing_id=supply.ids[i],
                producer_id=supply.producer_ids[i],
                available_kg=int(supply.available_kg[i]),
                suggested_kg=take,
                value_fen=value,
                transport_fen=transport,
                distance_km=km,
                poverty_class=int(supply.poverty_class[i]),
            )
        if request.HasField("hold"):
            response.hold.CopyFrom(self._hold(request, supply, ranked))
        return response

    def _hold(
        self, request: mpb.QuickSourceRequest, supply: ProductSupply, ranked: list[Any]
    ) -> Any:
        """Hold the suggested kilograms in the registry (which re-checks them under its locks),
        and count what was held as taken in this copy until the next reload."""
        wanted = [HeldKg(supply.ids[i], take) for i, take, *_ in ranked if take > 0]
        if not wanted:
            raise Aborted("no open listing fits the order: nothing to hold")
        order = request.order
        terms = HoldTerms(
            product=order.product,
            accepted_grades=tuple(order.accepted_grades),
            price_fen=order.price_fen,
            deliver_by=order.deliver_by,
            order_id=request.hold.order_id,
        )
        if terms.order_id and not RESOURCE_ID.fullmatch(terms.order_id):
            raise InvalidArgument.one("hold.order_id", "is not a valid id")
        held = self.registry.hold_listings(
            items=wanted,
            terms=terms,
            minutes=request.hold.minutes,
            reader=access.current(),
            request_id=checked_request_id(request.hold.request_id),
            fingerprint=fingerprint(request),
        )
        index = {supply.ids[i]: i for i, *_ in ranked}
        for item in held.items:
            if item.listing_id in index:
                i = index[item.listing_id]
                supply.available_kg[i] = max(0, supply.available_kg[i] - item.kg)
        return hold_proto(held)


def rank(
    s: ProductSupply, order: mpb.InlineOrder, today: str, limit: int
) -> list[tuple[int, int, int, int, float]]:
    """(listing index, suggested kg, value, transport, road km), best value first."""
    config = produce.TransportConfig()
    road_km = great_circle_km(s.lat, s.lng, order.location.latitude, order.location.longitude)
    road_km = road_km * config.road_factor
    transport = np.ceil(road_km * (config.rate_fen_per_tonne_km / 1000) - 1e-6).astype(np.int64)
    transit = np.ceil(road_km / config.speed_km_per_day - 1e-9).astype(np.int64)
    departure = np.maximum(_ordinal(today), s.available_from)
    limit_km = order.max_distance_km or np.inf
    ok = (
        np.isin(s.grades, list(order.accepted_grades))
        & (s.available_kg > 0)
        & floor_covered(order.price_fen - transport, s.floor)
        & within_shelf_life(transit, s.shelf_life)
        & fits_dates(departure, s.available_until, transit, np.asarray(_ordinal(order.deliver_by)))
        & within_distance(road_km, np.asarray(limit_km, np.float64))
    )
    candidates = np.flatnonzero(ok)
    value = order.price_fen - transport[candidates] - s.floor[candidates] + s.bonus[candidates]
    best = candidates[np.argsort(-value, kind="stable")][:limit]
    out, remaining = [], order.max_quantity_kg
    for i in best:
        take = int(min(s.available_kg[i], max(remaining, 0)))
        remaining -= take
        v = int(order.price_fen - transport[i] - s.floor[i] + s.bonus[i])
        out.append((int(i), take, v, int(transport[i]), float(road_km[i])))
    return out


def _checked(request: mpb.QuickSourceRequest) -> Any:
    order, violations = request.order, []
    if not order.product:
        violations.append(FieldViolation("order.product", "is required"))
    if not order.accepted_grades:
        violations.append(FieldViolation("order.accepted_grades", "at least one grade"))
    if order.max_quantity_kg <= 0:
        violations.append(FieldViolation("order.max_quantity_kg", "must be positive"))
    if order.price_fen < 0:
        violations.append(FieldViolation("order.price_fen", "must not be negative"))
    if not (-90 <= order.location.latitude <= 90 and -180 <= order.location.longitude <= 180):
        violations.append(FieldViolation("order.location", "is not a WGS84 point"))
    if not 0 <= request.max_results <= MAX_RESULTS:
        violations.append(FieldViolation("max_results", f"must be between 0 and {MAX_RESULTS}"))
    if violations:
        raise InvalidArgument(violations)
    date("order.deliver_by", order.deliver_by)
    date("today", request.today)
    return order
