"""Order prices from an optimal flow: the extreme optimal duals of the transportation LP.

LP: max Σ p·x, Σ_j x_ij ≤ s_i (dual u_i ≥ 0), Σ_i x_ij ≤ d_j (w_j ≥ 0). Given an optimal
flow x, (u, w) is optimal iff, with u_i = U_i(w) = max(0, max_k p_ik − w_k), every flow arc
is tight, unsaturated listings have u = 0 and unsaturated orders w = 0. Written out these are
difference constraints between order potentials and a zero node Z:

    w_j − w_k ≤ p_ij − p_ik   flow arc (i, j), any arc (i, k)
    w_j − w_Z ≤ p_ij          flow arc (i, j), listing not forced (u_i ≥ 0 applies)
    w_Z − w_k ≤ −p_ik         listing i unsaturated, any arc (i, k)
    w_Z − w_j ≤ 0             order not forced (w_j ≥ 0)
    w_j − w_Z ≤ 0             order not forced and unsaturated

Their solutions form a lattice. The componentwise smallest, w_min_j = −dist(j → Z), is the
value of one more kg of order j's maximum (the right derivative; with integer data exactly
V(d + e_j) − V(d)): the shadow price. The largest, w_max_j = dist(Z → j), is what the
marginal kg delivered to j earns: the price an unsold listing has to beat. Only order nodes
and Z appear, so Bellman–Ford runs on at most (orders + 1)² edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.sparse import spans
from matcher.solvers.produce.arcs import Arcs, ListingRuns, Network, Screening, listing_runs

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

INF = 2**60  # "no bound"; sums of two stay inside int64
DENSE_EDGE_LIMIT = 4_000_000  # reduce parallel edges in an (orders + 1)² matrix up to this


@dataclass(frozen=True)
class Duals:
    w_min: IntArray  # per order; -INF = unbounded below (forced orders only)
    w_max: IntArray  # per order; INF = unbounded above (e.g. a full order nobody supplies)

    def shadow(self) -> tuple[IntArray, BoolArray]:
        """Each order's shadow price, and whether it has one (-INF: none)."""
        has = self.w_min > -INF
        return np.where(has, self.w_min, 0), has

    def listing_potentials(
        self, arcs: Arcs, net: Network, weight: IntArray, use: BoolArray
    ) -> IntArray:
        """u_i = max(0, max_k p_ik − w_min_k): completes w_min to an optimal dual."""
        u = np.where(net.forced_listings, -INF, 0).astype(np.int64)
        li, oi = arcs.listing[use], arcs.order[use]
        np.maximum.at(u, li, weight[use] - np.maximum(self.w_min[oi], -INF // 2))
        return u


def order_duals(
    arcs: Arcs, net: Network, weight: IntArray, flow: IntArray, use: BoolArray
) -> Duals:
    """Smallest and largest optimal order duals for an optimal ``flow`` over arcs in ``use``."""
    m = net.demand.size
    tails, heads, weights = _constraint_edges(arcs, net, weight, flow, use)
    tails, heads, weights = _reduce_parallel(tails, heads, weights, m + 1)
    from_z = _distances(m + 1, m, tails, heads, weights)
    to_z = _distances(m + 1, m, heads, tails, weights)
    w_min = np.where(to_z[:m] >= INF, -INF, -to_z[:m])
    return Duals(w_min.astype(np.int64), from_z[:m])


def _constraint_edges(
    arcs: Arcs, net: Network, weight: IntArray, flow: IntArray, use: BoolArray
) -> tuple[IntArray, IntArray, IntArray]:
    """The difference constraints above as edges k → j of weight c (w_j ≤ w_k + c)."""
    n, m = net.supply.size, net.demand.size
    z = m
    columns = (arcs.listing, arcs.order, weight, flow)
    li, oi, p, x = columns if use.all() else (c[use] for c in columns)
    f = np.flatnonzero(x > 0)  # the few arcs with flow: the sums need no others
    sold = np.bincount(li[f], x[f], n).astype(np.int64)
    filled = np.bincount(oi[f], x[f], m).astype(np.int64)
    rep, other = _same_listing_pairs(li, f, n, arcs.runs if use.all() else None)
    free_f = f[~net.forced_listings[li[f]]]
    open_l = (sold < net.supply) & ~net.forced_listings
    a3 = open_l[li]
    # Only the tightest k → Z edge per order matters: reduce millions of arcs to m edges here.
    to_z = np.full(m, INF, np.int64)
    np.minimum.at(to_z, oi[a3], -p[a3])
    k3 = np.flatnonzero(to_z < INF)
    free_o = np.flatnonzero(~net.forced_orders)
    open_o = free_o[filled[free_o] < net.demand[free_o]]
    tails = [oi[other], np.full(free_f.size, z), k3, free_o, np.full(open_o.size, z)]
    heads = [oi[rep], oi[free_f], np.full(k3.size, z), np.full(free_o.size, z), open_o]
    zeros = np.zeros(free_o.size + open_o.size, np.int64)
    weights = [p[rep] - p[other], p[free_f], to_z[k3], zeros]
    return np.concatenate(tails), np.concatenate(heads), np.concatenate(weights)


def _same_listing_pairs(
    li: IntArray, f: IntArray, n: int, runs: ListingRuns | None = None
) -> tuple[IntArray, IntArray]:
    """For each arc in ``f``, every arc of the same listing: (repeated f, other arc).
    ``runs``: li's runs (Arcs.runs, when li is every arc), else found here."""
    if li.size == 0 or f.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    runs = listing_runs(li) if runs is None else runs
    deg, start = np.zeros(n, np.int64), np.zeros(n, np.int64)
    deg[runs.listing] = runs.length
    start[runs.listing] = runs.first
    lengths = deg[li[f]]
    return np.repeat(f, lengths), spans(start[li[f]], lengths)


def _reduce_parallel(
    tails: IntArray, heads: IntArray, weights: IntArray, nodes: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Keep the tightest of parallel edges (a dense scatter-min when the matrix is small)."""
    if nodes * nodes > DENSE_EDGE_LIMIT:
        return tails, heads, weights
    matrix = np.full(nodes * nodes, INF, np.int64)
    np.minimum.at(matrix, tails * nodes + heads, weights)
    keys = np.flatnonzero(matrix < INF)
    return keys // nodes, keys % nodes, matrix[keys]


def _distances(
    nodes: int, source: int, tails: IntArray, heads: IntArray, weights: IntArray
) -> IntArray:
    """Bellman–Ford shortest distances from ``source``; INF where unreachable."""
    dist = np.full(nodes, INF, np.int64)
    dist[source] = 0
    for _ in range(nodes + 1):
        reach = dist[tails] < INF
        candidate = dist[tails[reach]] + weights[reach]
        new = dist.copy()
        np.minimum.at(new, heads[reach], candidate)
        if np.array_equal(new, dist):
            return dist
        dist = new
    raise RuntimeError("negative cycle in the dual constraints: the flow was not optimal")


def would_sell_floor(
    arcs: Arcs,
    screening: Screening,
    flow: IntArray,
    duals: Duals,
    listing_bonus: IntArray,
    use: BoolArray,
    *,
    compete_blocked: bool = True,
) -> IntArray:
    """Per fully unsold listing: the highest floor at which selling it is (tied) optimal.

    Over its usable arcs and its floor-blocked pairs j, with net = price − transport:
    min(net + bonus − w_max_j, net). At a lower floor every optimal allocation sells it; at
    a higher one none needs to. -1 for listings that sell, or would not even at floor 0.
    Without ``compete_blocked`` (POVERTY_FIRST, where a new arc also moves stage 1) a
    blocked pair counts at the floor that opens it, net.
    """
    n = listing_bonus.size
    carried = np.flatnonzero(flow)
    sold = np.bincount(arcs.listing[carried], flow[carried], n)
    best = np.full(n, -INF, np.int64)
    # Only the arcs of listings that sell nothing count: their runs of arcs, taken whole, and
    # each run's best by one reduceat (an unbuffered maximum.at per arc took a quarter of it).
    # A listing has one run (its arcs are contiguous), so each run's best is its listing's.
    runs = arcs.runs
    unsold_runs = np.flatnonzero(sold[runs.listing] == 0)
    a, starts = runs.arcs_of(unsold_runs)
    if a.size:
        unsold_listings = runs.listing[unsold_runs]
        w = duals.w_max[arcs.order[a]]
        net = arcs.price[a] - arcs.transport[a]
        bonus = np.repeat(listing_bonus[unsold_listings], runs.length[unsold_runs])
        value = np.minimum(net + bonus - w, net)
        value[(w >= INF) if use.all() else (w >= INF) | ~use[a]] = -INF
        best[unsold_listings] = np.maximum.reduceat(value, starts)
    bl, bo, bnet = screening.blocked_listing, screening.blocked_order, screening.blocked_net
    unsold = sold[bl] == 0
    bl, bo, bnet = bl[unsold], bo[unsold], bnet[unsold]
    if compete_blocked:
        ok = duals.w_max[bo] < INF
        bl, bnet = (
            bl[ok],
            np.minimum(bnet[ok] + listing_bonus[bl[ok]] - duals.w_max[bo[ok]], bnet[ok]),
        )
    np.maximum.at(best, bl, bnet)
    return np.where((sold == 0) & (best >= 0), best, -1).astype(np.int64)
