"""The k nearest targets of many points on the unit sphere, exactly, by groups of close points.

A k-d tree answers one point at a time: 100,000 points × 30 of 1,000 targets took 0.25–0.30 s
on two threads. Points that lie close together share most of their nearest targets, so here
they are taken in groups of GROUP consecutive points along a Z-order curve. For a group with
centre c and radius r (its farthest member from c), every member x has its k nearest targets
within d_k(c) + 2r of c, d_k(c) being the distance from c to its k-th nearest target: x has
k targets within d_k(c) + r (the k nearest of c), and |c − t| ≤ |x − t| + r. Those targets
are the group's candidates (the centres' nearest, from a k-d tree of the targets); each
member scores them by dot product (on unit vectors the larger, the nearer) in one batched
matrix product and keeps the k best (argpartition): 0.10–0.13 s for the same points. A group
whose candidates are many (spread-out points, a jump of the curve) goes to the k-d tree
instead, so a group never costs much more than the tree would.

Ties aside (targets equidistant to within rounding, about 1e-16), the k nearest are those the
k-d tree finds: tests/matcher/solvers/test_geo.py checks both against brute force.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

GROUP = 64  # points per group: 100,000 × 30 of 1,000 in 0.10–0.13 s on 2 threads (tree 0.25–0.30)
WIDEST = 4  # candidates above this many times k: the group goes to the k-d tree
CHUNK = 1 << 22  # scores computed at once (32 MB of float64): bounds memory, feeds two threads
THREADS = 2  # numpy releases the GIL in the products, partitions and sorts
MARGIN = 1e-9  # chord slack for the rounding of the candidate test (distances ≥ 1e-9 rad)


def k_nearest(points: FloatArray, targets: FloatArray, k: int) -> IntArray:
    """Each point's k nearest targets (rows of unit vectors, n × 3 and m × 3, k ≤ m): an
    n × k array of target indices, each row in ascending order."""
    n, m = points.shape[0], targets.shape[0]
    assert 0 < k <= m, f"k = {k} of {m} targets"  # the callers' bound: never a caller's input
    out = np.empty((n, k), np.int64)
    if n == 0:
        return out
    order = _z_order(points)
    groups = -(-n // GROUP)
    # The last group is filled up with its last point repeated: its rows are written twice.
    order = np.concatenate([order, np.repeat(order[-1:], groups * GROUP - n)])
    members = points[order].reshape(groups, GROUP, 3)
    tree = cKDTree(targets)
    candidates, counts = _candidates(members, targets, tree, k)
    width, scored = _widths(counts, k), counts <= WIDEST * k
    padded = np.vstack([targets, np.zeros((1, 3))])  # row m: the padding, scored −inf
    tasks: list[Callable[[], None]] = []
    for w in np.unique(width[scored]).tolist():
        same = np.flatnonzero((width == w) & scored)
        step = max(1, CHUNK // (GROUP * w))
        for start in range(0, same.size, step):
            part = same[start : start + step]
            tasks.append(_scorer(members, padded, candidates[part, :w], part, k, order, out))
    if len(tasks) == 1:
        tasks[0]()
    elif tasks:
        with ThreadPoolExecutor(THREADS) as pool:
            for done in [pool.submit(task) for task in tasks]:
                done.result()
    wide = np.flatnonzero(~scored)
    if wide.size:  # the tree, on its own threads
        rows = np.unique(order.reshape(groups, GROUP)[wide])
        _, found = tree.query(points[rows], k=k, workers=THREADS)
        out[rows] = np.sort(np.asarray(found, np.int64).reshape(rows.size, k), axis=1)
    return out


def _z_order(points: FloatArray) -> IntArray:
    """The points' order along a Z-order (Morton) curve over their bounding box, 10 bits an
    axis: consecutive points are mostly close."""
    low, high = points.min(axis=0), points.max(axis=0)
    scale = 1023 / np.maximum(high - low, 1e-300)
    cell = ((points - low) * scale).astype(np.int64)
    code = _spread(cell[:, 0]) | (_spread(cell[:, 1]) << 1) | (_spread(cell[:, 2]) << 2)
    return np.argsort(code, kind="stable")


def _spread(v: IntArray) -> IntArray:
    """A 10-bit integer's bits moved three places apart (bit i to bit 3i)."""
    v = v & 0x3FF
    v = (v | (v << 16)) & 0x030000FF
    v = (v | (v << 8)) & 0x0300F00F
    v = (v | (v << 4)) & 0x030C30C3
    return (v | (v << 2)) & 0x09249249


def _candidates(
    members: FloatArray, targets: FloatArray, tree: cKDTree, k: int
) -> tuple[IntArray, IntArray]:
    """Per group (members: groups × GROUP × 3), the targets that may be a member's k nearest,
    nearest first (groups × WIDEST·k, padded with m), and how many; a count above WIDEST·k
    stands for "more" (the group goes to the tree)."""
    m = targets.shape[0]
    centre = members.mean(axis=1)
    offset = members - centre[:, None, :]
    radius = np.sqrt(np.einsum("gpi,gpi->gp", offset, offset).max(axis=1))
    most = min(WIDEST * k + 1, m)
    chord, found = tree.query(centre, k=most, workers=THREADS)
    chord, found = chord.reshape(-1, most), np.asarray(found, np.int64).reshape(-1, most)
    near = chord <= (chord[:, k - 1] + 2 * radius + MARGIN)[:, None]
    counts = near.sum(axis=1)
    return np.where(near, found, m), counts


def _widths(counts: IntArray, k: int) -> IntArray:
    """Each group's padded candidate count: k, or the next of 2^j and 3 × 2^(j−2) at or above
    its count (groups of one width are scored together; padding wastes at most a third)."""
    power = 1 << np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64)
    width = np.where(power * 3 // 4 >= counts, power * 3 // 4, power)
    return np.maximum(width, k)


def _scorer(
    members: FloatArray,
    padded: FloatArray,
    candidate: IntArray,
    part: IntArray,
    k: int,
    order: IntArray,
    out: IntArray,
) -> Callable[[], None]:
    """A task: the k nearest of each member of the groups ``part`` among their candidates
    (part × w indices into ``padded``, the targets and a last row m for none: scored −inf)."""

    def score() -> None:
        m = padded.shape[0] - 1
        w = candidate.shape[1]
        scores = np.matmul(members[part], padded[candidate].transpose(0, 2, 1))
        scores[np.broadcast_to((candidate == m)[:, None, :], scores.shape)] = -np.inf
        if w > k:
            best = np.argpartition(scores, w - k, axis=2)[:, :, w - k :]
            nearest = candidate[np.arange(part.size)[:, None, None], best]
        else:  # exactly k candidates: all of them
            nearest = np.broadcast_to(candidate[:, None, :], (part.size, GROUP, k))
        picked = order.reshape(-1, GROUP)[part].reshape(-1)
        out[picked] = np.sort(nearest.reshape(-1, k), axis=1)

    return score
