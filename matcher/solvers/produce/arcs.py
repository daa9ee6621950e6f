"""Listing → order arcs, built column-wise with numpy.

Pairs are generated per product (every listing × every order of that product) or taken from
the problem's sparse ``candidates``, in blocks; each hard rule is then one vectorised mask
over a block (``screen``). There is no Python loop over pairs, so two million pairs build in
well under a second.

Invariant the solvers rely on: the arcs of one listing are contiguous.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.sparse import spans
from matcher.solvers.produce.columns import ProduceColumns
from matcher.solvers.produce.screen import LANE_FIELDS, same_product, screen_block
from matcher.solvers.produce.tables import Tables, build_tables

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


def build_arcs(problem: ProduceColumns) -> tuple[Arcs, Screening, Tables]:
    """All arcs of the problem, the screening behind the unsold reasons, and the tables."""
    tables = build_tables(problem)
    parts = _blocks(problem, tables)
    # Two passes: each block is screened (its masks and per-pair values), then its arcs are
    # written straight into their place in the joined columns: joining the blocks' own
    # columns copied every arc field once more (3 million arcs in halves: 11 fields, 260 MB).
    if len(parts) == 1:
        blocks = [screen_block(problem, tables, *parts[0])]
    else:  # numpy releases the GIL in its loops: the blocks are screened side by side
        with ThreadPoolExecutor(SCREEN_THREADS) as pool:
            blocks = list(pool.map(lambda part: screen_block(problem, tables, *part), parts))
    starts = np.cumsum([0, *(block.count for block in blocks)]).tolist()
    own = blocks[0].own_columns() if len(blocks) == 1 else {}  # nothing to join: kept as is
    columns = _arc_columns(starts[-1], skip=own)
    if len(blocks) == 1:
        blocks[0].write(tables, columns, skip=own)
    else:
        slices = [{k: c[a:b] for k, c in columns.items()} for a, b in pairwise(starts)]
        with ThreadPoolExecutor(SCREEN_THREADS) as pool:
            list(pool.map(lambda block, out: block.write(tables, out), blocks, slices))
    arcs = Arcs(**columns, **own)
    n = tables.listings.quantity.size
    compatible, priced, bl, bo, bnet = (_concat([b.screen[k] for b in blocks]) for k in range(5))
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
# when a dense product has, say, 100,000 listings × 1,000 orders.
BLOCK_PAIRS = 1 << 22
# A sparse problem's candidate pairs (already flat) are screened in halves on two threads
# past this many: 3 million pairs in 0.13 s against 0.19 s.
SPLIT_PAIRS = 1 << 20
SCREEN_THREADS = 2


def _arc_columns(size: int, skip: Collection[str] = ()) -> dict[str, npt.NDArray[Any]]:
    """The arc columns (but ``skip``), to be written block by block. The lane fields start
    as zeros and are written only where a block has lanes (fresh pages stay untouched; under
    the solver processes' malloc settings calloc may clear reused heap instead)."""
    return {
        name: (np.zeros if name in LANE_FIELDS else np.empty)(
            size, np.float64 if name == "road_km" else np.int64
        )
        for name in _ARC_FIELDS
        if name not in skip
    }


def _concat(parts: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([np.zeros(0, np.int64), *parts])


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
