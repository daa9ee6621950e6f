"""Sparse candidates for large produce problems: each listing's k nearest orders of its product.

A dense listings × orders screen costs memory in proportion to their product (100,000 × 1,000
is 10^8 pairs); past a size, only the k orders nearest to each listing are screened. Nearness
is the chord between unit vectors, which orders pairs exactly as great-circle distance does; a
k-d tree of each product's orders finds them (100,000 listings × 30 in a fraction of a second,
where scoring every pair took seconds).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from matcher.solvers.common.geo import unit_vectors
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
    pairs: list[IndexArray] = []
    for product in range(len(problem.products)):
        rows = np.flatnonzero(ls.product == product)
        cols = np.flatnonzero(os_.product == product)
        if rows.size and cols.size:
            pairs.append(_nearest(listing_units, rows, order_units, cols, k))
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    m = max(len(os_), 1)
    keys = np.concatenate(pairs)
    if len(pairs) > 1:  # listings of several products interleave; one product's are in order
        keys = np.sort(keys)  # distinct: a listing has one product
    return keys // m, keys % m


def _nearest(
    lu: npt.NDArray[np.float64],
    rows: IndexArray,
    ou: npt.NDArray[np.float64],
    cols: IndexArray,
    k: int,
) -> IndexArray:
    """Keys (listing × orders + order) of the k nearest of ``cols`` for each of ``rows``, in
    order."""
    m = ou.shape[0]
    take = min(k, cols.size)
    if take == cols.size:  # every order of the product
        return np.asarray(rows[:, None] * m + cols[None, :], np.int64).reshape(-1)
    tree = cKDTree(ou[cols])
    _, best = tree.query(lu[rows], k=take, workers=-1)
    nearest = np.sort(cols[np.asarray(best, np.int64).reshape(rows.size, take)], axis=1)
    return np.asarray(rows[:, None] * m + nearest, np.int64).reshape(-1)
