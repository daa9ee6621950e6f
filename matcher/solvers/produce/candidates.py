"""Sparse candidates for large produce problems: each listing's k nearest orders of its product.

A dense listings × orders screen costs memory in proportion to their product (100,000 × 1,000
is 10^8 pairs); past a size, only the k orders nearest to each listing are screened. Nearness
is the chord between unit vectors, which orders pairs exactly as great-circle distance does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.geo import unit_vectors
from matcher.solvers.produce.problem import Listing, Order

IndexArray = npt.NDArray[np.int64]
DENSE_LIMIT = 5_000_000  # listing × order pairs screened densely before switching to k-nearest
DEFAULT_K = 30
BLOCK_PAIRS = 4_000_000  # pairs per distance block: bounds memory to ~32 MB of floats


def needs_candidates(listings: Sequence[Listing], orders: Sequence[Order]) -> bool:
    return len(listings) * len(orders) > DENSE_LIMIT


def nearest_orders(
    listings: Sequence[Listing], orders: Sequence[Order], k: int = DEFAULT_K
) -> tuple[IndexArray, IndexArray]:
    """(listing index, order index) pairs: each listing with its k nearest same-product orders."""
    by_product: dict[str, list[int]] = defaultdict(list)
    for j, order in enumerate(orders):
        by_product[order.product].append(j)
    order_units = unit_vectors([o.lat for o in orders], [o.lng for o in orders])
    listing_units = unit_vectors([x.lat for x in listings], [x.lng for x in listings])
    pairs_l: list[IndexArray] = []
    pairs_o: list[IndexArray] = []
    listings_of: dict[str, list[int]] = defaultdict(list)
    for i, listing in enumerate(listings):
        listings_of[listing.product].append(i)
    for product, rows in listings_of.items():
        cols = np.asarray(by_product.get(product, []), np.int64)
        if cols.size:
            li, oi = _nearest(listing_units, np.asarray(rows, np.int64), order_units, cols, k)
            pairs_l.append(li)
            pairs_o.append(oi)
    if not pairs_l:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(pairs_l), np.concatenate(pairs_o)


def _nearest(
    lu: npt.NDArray[np.float64],
    rows: IndexArray,
    ou: npt.NDArray[np.float64],
    cols: IndexArray,
    k: int,
) -> tuple[IndexArray, IndexArray]:
    """k nearest of `cols` for each of `rows`, block by block of rows."""
    take = min(k, cols.size)
    block = max(1, BLOCK_PAIRS // cols.size)
    out_l, out_o = [], []
    targets = ou[cols]
    for start in range(0, rows.size, block):
        chunk = rows[start : start + block]
        # Squared chord = 2 - 2 cos(angle): the largest dot product is the nearest order.
        dots = lu[chunk] @ targets.T
        if take < cols.size:
            best = np.argpartition(-dots, take - 1, axis=1)[:, :take]
        else:
            best = np.broadcast_to(np.arange(cols.size), (chunk.size, cols.size))
        out_l.append(np.repeat(chunk, take))
        out_o.append(cols[best].reshape(-1))
    return np.concatenate(out_l), np.concatenate(out_o)
