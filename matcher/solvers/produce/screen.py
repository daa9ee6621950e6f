"""The hard rules, applied to a block of listing → order pairs at once (``arcs.build_arcs``
cuts the problem into blocks): one vectorised mask per rule, and the values every arc
carries (road km, transport, transit days, lane limits), written straight into the joined
arc columns by ``ScreenedBlock.write``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.geo import great_circle_km_from_chord
from matcher.solvers.produce.columns import ProduceColumns
from matcher.solvers.produce.tables import OrderTable, Tables

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

LANE_FIELDS = ("min_lot", "fixed_cost", "truck_capacity")


def same_product(listing_product: IntArray, order_product: IntArray) -> BoolArray:
    """Hard: the order is for the listing's product (dense blocks hold one product each)."""
    return np.asarray(listing_product == order_product)


def grade_accepted(orders: OrderTable, grade: IntArray, order: IntArray) -> BoolArray:
    """Hard: the order accepts the listing's grade."""
    return np.asarray(orders.accepts[order, grade])


def floor_covered(net_price: IntArray, floor: IntArray) -> BoolArray:
    """Hard: the price offered, net of transport, is at least the listing's floor price."""
    return net_price >= floor


def within_shelf_life(transit_days: IntArray, shelf_life_days: IntArray) -> BoolArray:
    """Hard: the produce survives the journey."""
    return transit_days <= shelf_life_days


def fits_dates(
    departure: IntArray, available_until: IntArray, transit_days: IntArray, deliver_by: IntArray
) -> BoolArray:
    """Hard: ships within the availability window and arrives by the deliver-by date.

    Departure is the later of today and available_from (as ordinals).
    """
    return (departure <= available_until) & (departure + transit_days <= deliver_by)


def within_distance(road_km: FloatArray, max_distance_km: FloatArray) -> BoolArray:
    """Hard: the road distance is within the order's limit (infinite when unset)."""
    return road_km <= max_distance_km


def screen_block(
    problem: ProduceColumns, tables: Tables, li: IntArray, oi: IntArray
) -> ScreenedBlock:
    """Apply every hard rule to one block of pairs (see ``_blocks`` for the shapes).

    A rule that holds for every pair of the problem (every order takes every grade, no order
    has a distance limit, the longest transit beats every shelf life and deadline) is not
    evaluated pair by pair: its mask would be all true.
    """
    lt, ot = tables.listings, tables.orders
    every = np.ones((), np.bool_)
    compatible = every if ot.accepts.all() else grade_accepted(ot, lt.grade[li], oi)
    road_km = _road_km(tables, li, oi) * problem.transport.road_factor
    lane = tables.lane_lookup(li, oi)
    transport, transit = _transport(problem, tables, lane, road_km)
    net = ot.price[oi] - transport
    priced = compatible & floor_covered(net, lt.floor[li])
    longest = int(transit.max(initial=0))
    fits = compatible
    if longest > lt.shelf_life.min(initial=0):
        fits = fits & within_shelf_life(transit, lt.shelf_life[li])
    if not (
        (lt.departure <= lt.until).all()
        and lt.departure.max(initial=0) + longest <= ot.deliver_by.min(initial=0)
    ):
        fits = fits & fits_dates(lt.departure[li], lt.until[li], transit, ot.deliver_by[oi])
    if not np.isinf(ot.max_km).all():
        fits = fits & within_distance(road_km, ot.max_km[oi])
    ok = priced & fits
    blocked = fits & ~priced
    if blocked.any():
        blocked_l, blocked_o = _pair_indices(li, oi, blocked)
        blocked_net = net[blocked]
    else:
        blocked_l = blocked_o = blocked_net = np.zeros(0, np.int64)
    screen = [_listings_with(li, compatible), _listings_with(li, priced), blocked_l, blocked_o]
    values = {"transport": transport, "road_km": road_km, "transit_days": transit}
    lanes = dict(zip(LANE_FIELDS, _lane_limits(tables, lane), strict=True))
    return ScreenedBlock(li, oi, None if ok.all() else ok, values, lanes, [*screen, blocked_net])


@dataclass
class ScreenedBlock:
    """A screened block's pairs, which of them are arcs (``ok``; None: every one) and their
    block-shaped values, until ``write`` puts its arcs into their place in the columns."""

    li: IntArray
    oi: IntArray
    ok: BoolArray | None
    values: dict[str, npt.NDArray[Any]]  # transport, road_km, transit_days
    lane_values: dict[str, IntArray]  # zero-d zeros: no lanes
    screen: list[IntArray]  # compatible, priced listings; blocked listing, order, net

    @property
    def count(self) -> int:
        if self.ok is not None:
            return int(np.count_nonzero(self.ok))
        return int(self.li.size * self.oi.size if self.li.ndim == 2 else self.li.size)

    def own_columns(self) -> dict[str, npt.NDArray[Any]]:
        """The columns this block holds as they are, when every pair is an arc (else none):
        its values, and its pairs when they are flat (a sparse block)."""
        if self.ok is not None:
            return {}
        pairs = {"listing": self.li, "order": self.oi} if self.li.ndim == 1 else {}
        return pairs | {k: v.reshape(-1) for k, v in self.values.items()}

    def write(
        self, tables: Tables, out: dict[str, npt.NDArray[Any]], skip: Collection[str] = ()
    ) -> None:
        """This block's arcs into ``out`` (each column's slice for them, lane columns zeroed),
        in pair order; the columns in ``skip`` are its own (``own_columns``)."""
        li, oi = self.li, self.oi
        picked = None if self.ok is None else np.flatnonzero(self.ok)
        if "listing" in skip:  # flat pairs, every one an arc: the columns are li and oi
            listing, order = li, oi
        else:
            listing, order = out["listing"], out["order"]
            if li.ndim == 2 and picked is None:  # a whole dense block, row-major
                listing.reshape(li.shape[0], oi.shape[1])[...] = li
                order.reshape(li.shape[0], oi.shape[1])[...] = oi
            elif li.ndim == 2:
                np.take(li[:, 0], picked // oi.shape[1], out=listing)
                np.take(oi[0], picked % oi.shape[1], out=order)
            elif picked is None:
                listing[...], order[...] = li, oi
            else:
                np.take(li, picked, out=listing)
                np.take(oi, picked, out=order)
        for name, value in [*self.values.items(), *self.lane_values.items()]:
            if name in skip or value.ndim == 0:  # no lanes here: the column's zeros stand
                continue
            if picked is None:
                out[name][...] = value.reshape(-1)
            else:
                np.take(value.reshape(-1), picked, out=out[name])
        lt, ot = tables.listings, tables.orders
        np.take(ot.price, order, out=out["price"])
        np.take(lt.floor, listing, out=out["floor"])
        np.minimum(lt.quantity[listing], ot.max_q[order], out=out["capacity"])


def _pair_indices(li: IntArray, oi: IntArray, where: BoolArray) -> tuple[IntArray, IntArray]:
    """Listing and order index of each pair selected by ``where`` (row-major: by listing)."""
    if where.ndim == 2:
        rows, cols = np.nonzero(where)
        return li[rows, 0], oi[0, cols]
    return li[where], oi[where]


def _listings_with(li: IntArray, where: BoolArray) -> IntArray:
    """Listings with at least one pair selected (possibly repeated)."""
    if where.ndim == 0:  # all of them or none
        return li.reshape(-1) if where else np.zeros(0, np.int64)
    if where.ndim == 2:
        return li[where.any(axis=1), 0]
    return li[where]


def _road_km(tables: Tables, li: IntArray, oi: IntArray) -> FloatArray:
    """Great-circle km of each pair (li and oi broadcast: a whole dense block at once)."""
    lt, ot = tables.listings, tables.orders
    # Coordinates as contiguous rows: gathering from a row is faster than from a column.
    lu, ou = np.ascontiguousarray(lt.unit.T), np.ascontiguousarray(ot.unit.T)
    chord_squared = sum((lu[k][li] - ou[k][oi]) ** 2 for k in range(3))
    return great_circle_km_from_chord(chord_squared)


def _transport(
    problem: ProduceColumns,
    tables: Tables,
    lane: tuple[BoolArray, IntArray],
    road_km: FloatArray,
) -> tuple[IntArray, IntArray]:
    """Fen per kg and days in transit: estimated from road km unless a lane overrides them."""
    config = problem.transport
    # Rounded up; the 1e-6 keeps float noise (1.3 × 1000 km = 1300.0000000000002) from adding a fen.
    cost = _ceil(road_km * (config.rate_fen_per_tonne_km / 1000), 1e-6)
    transit = _ceil(road_km / config.speed_km_per_day, 1e-9)
    found, where = lane
    if found.any():
        cost[found] = tables.lanes.cost[where[found]]
        transit[found] = tables.lanes.transit[where[found]]
    return np.maximum(cost, 0, out=cost), np.maximum(transit, 0, out=transit)


def _ceil(values: FloatArray, tolerance: float) -> IntArray:
    """⌈values − tolerance⌉ as integers, computed in place (values is a temporary)."""
    values -= tolerance
    return np.ceil(values, out=values).astype(np.int64)


def _lane_limits(
    tables: Tables, lane: tuple[BoolArray, IntArray]
) -> tuple[IntArray, IntArray, IntArray]:
    """Minimum lot, fixed cost and truck capacity per pair (zeros off the lane table)."""
    found, where = lane
    if not found.any():  # zero-d arrays broadcast to any block
        return np.zeros((), np.int64), np.zeros((), np.int64), np.zeros((), np.int64)
    lots, fixed, trucks = (np.zeros(found.shape, np.int64) for _ in range(3))
    lots[found] = tables.lanes.min_lot[where[found]]
    fixed[found] = tables.lanes.fixed_cost[where[found]]
    trucks[found] = tables.lanes.truck_capacity[where[found]]
    return lots, fixed, trucks
