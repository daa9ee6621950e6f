"""Sparse candidates for large produce problems: each listing's k nearest orders of its product.

A dense listings × orders screen costs memory in proportion to their product (100,000 × 1,000
is 10^8 pairs); past a size, only the k orders nearest to each listing are screened. Nearness
is the chord between unit vectors, which orders pairs exactly as great-circle distance does;
``common.nearest`` finds them for each product's orders (100,000 listings × 30 of 1,000 in
about 0.1 s, where scoring every pair took seconds).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.geo import unit_vectors
from matcher.solvers.common.nearest import k_nearest
from matcher.solvers.produce.columns import ProduceColumns

IndexArray = npt.NDArray[np.int64]
DENSE_LIMIT = 5_000_000  # listing × order pairs screened densely before switching to k-nearest
DEFAULT_K = 30


def needs_candidates(problem: ProduceColumns) -> bool:
    return len(problem.listings) * len(problem.orders) > DENSE_LIMIT


def nearest_orders(problem: ProduceColumns, k: int = DEFAULT_K) -> tuple[IndexArray, IndexArray]:
    """(listing index, order index) pairs: each listing with its k nearest same-product orders,
    sorted by listing, then order."""
    ls, os_ = problem.listings, problem.orders
    listing_units = unit_vectors(ls.lat, ls.lng).reshape(-1, 3)
    order_units = unit_vectors(os_.lat, os_.lng).reshape(-1, 3)
    listing_parts: list[IndexArray] = []
    order_parts: list[IndexArray] = []
    for product in range(len(problem.products)):
        rows = np.flatnonzero(ls.product == product)
        cols = np.flatnonzero(os_.product == product)
        if rows.size and cols.size:
            li, oi = _nearest(listing_units, rows, order_units, cols, k)
            listing_parts.append(li)
            order_parts.append(oi)
    if not listing_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if len(listing_parts) == 1:  # one product's listings come in order
        return listing_parts[0], order_parts[0]
    # Listings of several products interleave: sort the pairs (distinct: a listing has one
    # product).
    m = len(os_)
    keys = np.sort(np.concatenate(listing_parts) * m + np.concatenate(order_parts))
    return keys // m, keys % m


def _nearest(
    lu: npt.NDArray[np.float64],
    rows: IndexArray,
    ou: npt.NDArray[np.float64],
    cols: IndexArray,
    k: int,
) -> tuple[IndexArray, IndexArray]:
    """(listing, order) pairs: the k nearest of ``cols`` for each of ``rows``, sorted by
    listing, then order."""
    take = min(k, cols.size)
    if take == cols.size:  # every order of the product
        return np.repeat(rows, take), np.tile(cols, rows.size)
    nearest = cols[k_nearest(lu[rows], ou[cols], take)]  # cols ascend: rows stay sorted
    return np.repeat(rows, take), nearest.reshape(-1)
