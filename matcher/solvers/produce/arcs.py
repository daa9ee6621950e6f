"""Listing → order arcs, built column-wise with numpy.

Pairs are generated per product (every listing × every order of that product) or taken from
the problem's sparse ``candidates``; each hard rule is then one vectorised mask. There is no
Python loop over pairs, so two million pairs build in well under a second.

Invariant the solvers rely on: the arcs of one listing are contiguous.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.geo import great_circle_km_from_chord
from matcher.solvers.common.sparse import spans
from matcher.solvers.produce.columns import ProduceColumns
from matcher.solvers.produce.tables import OrderTable, Tables, build_tables

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Network:
    """Node data of the transportation network, beside its arcs: the flow (``flow``) and its
    duals (``duals``) both read it. ``forced_*`` mark equality constraints."""

    supply: IntArray
    demand: IntArray
    forced_listings: BoolArray
    forced_orders: BoolArray


@dataclass(frozen=True)
class Arcs:
    """One entry per allowed listing → order pair; per-kg money in fen."""

    listing: IntArray
    order: IntArray
    price: IntArray
    transport: IntArray
    floor: IntArray
    capacity: IntArray  # min(listing quantity, order maximum)
    road_km: FloatArray
    transit_days: IntArray
    min_lot: IntArray  # 0 = no minimum lot
    fixed_cost: IntArray  # per truck (per use if truck_capacity is 0)
    truck_capacity: IntArray  # 0 = one charge per used lane

    @property
    def size(self) -> int:
        return int(self.listing.size)

    @cached_property
    def margin(self) -> IntArray:
        """Price − transport − floor per kg; never negative (floor_covered). Computed once:
        the flow, its duals and the result all read it (a pass over every arc each time)."""
        return self.price - self.transport - self.floor

    def margin_at(self, at: IntArray) -> IntArray:
        """The margin of the arcs ``at`` only (a result's few used arcs of millions)."""
        return self.price[at] - self.transport[at] - self.floor[at]

    @cached_property
    def runs(self) -> ListingRuns:
        """Each listing's arcs as one run (they are contiguous): found once, in one pass."""
        return listing_runs(self.listing)


@dataclass(frozen=True)
class ListingRuns:
    """The arcs of listing ``listing[r]`` are ``first[r]`` to ``first[r] + length[r]``."""

    first: IntArray
    length: IntArray
    listing: IntArray

    def arcs_of(self, runs: IntArray) -> tuple[IntArray, IntArray]:
        """The arcs of the ``runs``, run after run, and where each run starts among them:
        a pass over those arcs only, where a mask of their listings passes every arc."""
        length = self.length[runs]
        return spans(self.first[runs], length), np.cumsum(length) - length


def listing_runs(listing: IntArray) -> ListingRuns:
    """The runs of equal listings in ``listing`` (arcs, whose listings' arcs are contiguous)."""
    li = listing
    first = np.flatnonzero(np.r_[True, li[1:] != li[:-1]]) if li.size else li[:0]
    return ListingRuns(first, np.diff(np.r_[first, li.size]), li[first])


@dataclass(frozen=True)
class Screening:
    """Why pairs are not arcs, kept per listing for the unsold explanations."""

    has_compatible: BoolArray  # some order takes this product and grade
    has_priced: BoolArray  # ... and pays the floor net of transport
    blocked_listing: IntArray  # compatible pairs that fit logistics but not the floor
    blocked_order: IntArray
    blocked_net: IntArray  # price − transport of those pairs


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


def build_arcs(problem: ProduceColumns) -> tuple[Arcs, Screening, Tables]:
    """All arcs of the problem, the screening behind the unsold reasons, and the tables."""
    tables = build_tables(problem)
    parts = _blocks(problem, tables)
    if len(parts) == 1:
        blocks = [_screen_block(problem, tables, *parts[0])]
    else:  # numpy releases the GIL in its loops: the blocks are screened side by side
        with ThreadPoolExecutor(SCREEN_THREADS) as pool:
            blocks = list(pool.map(lambda part: _screen_block(problem, tables, *part), parts))
    # Each field's parts are let go once joined: joining holds one field twice, not every one
    # (30 million arcs: 240 MB a field).
    arcs = Arcs(*(_concat([b[0].pop(k) for b in blocks], k == "road_km") for k in _ARC_FIELDS))
    n = tables.listings.quantity.size
    compatible, priced, bl, bo, bnet = (_concat([b[1][k] for b in blocks]) for k in range(5))
    screening = Screening(
        np.bincount(compatible, minlength=n) > 0,
        np.bincount(priced, minlength=n) > 0,
        bl,
        bo,
        bnet,
    )
    return arcs, screening, tables


_ARC_FIELDS = [f.name for f in fields(Arcs)]
# Pairs screened at once: bounds the dozen block-sized temporaries (32 MB each at this size)
# when a dense product has, say, 100,000 listings × 1,000 orders. At 2^20, two million pairs
# made two blocks, and joining them copied every arc column once more (a fifth of the build);
# a sparse problem is one block of any size anyway.
BLOCK_PAIRS = 1 << 22
# A sparse problem's candidate pairs (already flat: joining blocks copies little) are screened
# in halves on two threads past this many: 3 million pairs in 0.13 s against 0.19 s.
SPLIT_PAIRS = 1 << 20
SCREEN_THREADS = 2
Block = tuple[dict[str, npt.NDArray[Any]], list[IntArray]]


def _concat(parts: list[npt.NDArray[Any]], floats: bool = False) -> npt.NDArray[Any]:
    if len(parts) == 1:
        return parts[0]
    empty = np.zeros(0, np.float64 if floats else np.int64)
    return np.concatenate([empty, *parts])


def _blocks(problem: ProduceColumns, tables: Tables) -> list[tuple[IntArray, IntArray]]:
    """Index arrays that broadcast to the pairs to screen.

    Dense: per product, listings as a column (L, 1) and orders as a row (1, O), so every
    attribute broadcasts to an L × O matrix with no gather (long columns are chunked).
    Sparse: the caller's candidate pairs, deduplicated, as two flat arrays. Either way a
    listing's pairs come out together.
    """
    lp, op = tables.listings.product, tables.orders.product
    if problem.candidates is not None:
        m = max(op.size, 1)
        li = np.asarray(problem.candidates[0], np.int64)
        oi = np.asarray(problem.candidates[1], np.int64)
        keys = li * m + oi
        if not (keys[1:] > keys[:-1]).all():  # nearest_orders' pairs are sorted and distinct
            # A stable sort is linear on input already grouped by listing; np.unique would
            # hash 3 million keys first, ten times slower.
            keys = np.sort(keys, kind="stable")
            keys = keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys
            li, oi = keys // m, keys % m
        if tables.n_products > 1:
            same = same_product(lp[li], op[oi])
            li, oi = li[same], oi[same]
        return _halves(li, oi) if li.size > SPLIT_PAIRS else [(li, oi)]
    blocks = []
    for p in range(tables.n_products):  # a loop over products (and chunks), not pairs
        ls, os_ = np.flatnonzero(lp == p), np.flatnonzero(op == p)
        rows = max(1, BLOCK_PAIRS // max(os_.size, 1))
        for start in range(0, ls.size if os_.size else 0, rows):
            blocks.append((ls[start : start + rows, None], os_[None, :]))
    return blocks


def _halves(li: IntArray, oi: IntArray) -> list[tuple[IntArray, IntArray]]:
    """Flat pairs in two parts, split between two listings (a listing's pairs stay together:
    the screening's per-listing results and the arcs' order are those of one block)."""
    half = int(np.searchsorted(li, li[li.size // 2]))  # li is sorted: a listing's first pair
    if half == 0:
        return [(li, oi)]
    return [(li[:half], oi[:half]), (li[half:], oi[half:])]


def _screen_block(problem: ProduceColumns, tables: Tables, li: IntArray, oi: IntArray) -> Block:
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
    lot, fixed, truck = _lane_limits(tables, lane)
    if ok.all():  # every pair is an arc: no copies
        arc_l, arc_o = _all_pairs(li, oi)
        arcs = _arc_fields(tables, arc_l, arc_o, transport, road_km, transit)
    else:
        arc_l, arc_o = _pair_indices(li, oi, ok)
        arcs = _arc_fields(tables, arc_l, arc_o, transport[ok], road_km[ok], transit[ok])
    arcs |= {
        "min_lot": _full(lot, ok),
        "fixed_cost": _full(fixed, ok),
        "truck_capacity": _full(truck, ok),
    }
    blocked = fits & ~priced
    if blocked.any():
        blocked_l, blocked_o = _pair_indices(li, oi, blocked)
        blocked_net = net[blocked]
    else:
        blocked_l = blocked_o = blocked_net = np.zeros(0, np.int64)
    screen = [_listings_with(li, compatible), _listings_with(li, priced), blocked_l, blocked_o]
    return arcs, [*screen, blocked_net]


def _arc_fields(
    tables: Tables,
    arc_l: IntArray,
    arc_o: IntArray,
    transport: IntArray,
    road_km: FloatArray,
    transit: IntArray,
) -> dict[str, npt.NDArray[Any]]:
    lt, ot = tables.listings, tables.orders
    return {
        "listing": arc_l,
        "order": arc_o,
        "price": ot.price[arc_o],
        "transport": transport.reshape(-1),
        "floor": lt.floor[arc_l],
        "capacity": np.minimum(lt.quantity[arc_l], ot.max_q[arc_o]),
        "road_km": road_km.reshape(-1),
        "transit_days": transit.reshape(-1),
    }


def _all_pairs(li: IntArray, oi: IntArray) -> tuple[IntArray, IntArray]:
    """Listing and order index of every pair of the block (row-major: by listing)."""
    if li.ndim == 2:
        return np.repeat(li[:, 0], oi.shape[1]), np.tile(oi[0], li.shape[0])
    return li, oi


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


def _full(values: IntArray, where: BoolArray) -> IntArray:
    """Selected entries of a block-shaped array; a zero-d array stands for all-equal."""
    if values.ndim == 0:  # no lanes: zeros the OS hands out untouched
        return np.zeros(int(np.count_nonzero(where)), values.dtype)
    return values[where]


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
