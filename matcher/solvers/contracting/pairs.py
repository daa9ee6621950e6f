"""Candidate (household, cadre) pairs for contracting, their cost and effort.

Each household that needs a cadre considers its ``k_nearest`` cheapest cadres whose whole
quota fits its effort, plus every cadre stationed in its village; a scored problem considers
exactly its listed pairs whose effort fits the cadre's quota. With the rank balance term
it also considers its ⌈k/2⌉ nearest such cadres (``_nearest``). The candidates come from
k-d trees over the cadres, one per (rank cost, quota) group, when there are few groups; else
costs are computed a block of households at a time against all cadres, with numpy
broadcasting.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from matcher.solvers.common import geo
from matcher.solvers.common.sparse import spans
from matcher.solvers.contracting.problem import ContractingProblem

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

_PAIRS_PER_BLOCK = 2_000_000
# Cadre groups (rank cost, quota) up to which candidates come from k-d trees, one a group;
# beyond (cadres with quotas of their own), from the dense cost matrix a block at a time.
MAX_TREE_GROUPS = 12


@dataclass(frozen=True)
class Sites:
    """Per-household and per-cadre arrays; villages as integer codes (-1: not stationed)."""

    household_lat: FloatArray  # radians
    household_lng: FloatArray
    household_village: IntArray
    effort: IntArray  # 1 + causes (used when the problem has no scores)
    cadre_lat: FloatArray
    cadre_lng: FloatArray
    cadre_village: IntArray
    quota: IntArray
    # Metres per effort unit a pair with this cadre costs more for the rank balance: the
    # problem's rank_balance_m × (highest rank - the cadre's rank); 0 under scores.
    rank_cost: IntArray


def build_sites(problem: ContractingProblem) -> Sites:
    codes: dict[str, int] = {}
    hh, cc = problem.households, problem.cadres
    return Sites(
        household_lat=np.radians(np.array([h.lat for h in hh], dtype=np.float64)),
        household_lng=np.radians(np.array([h.lng for h in hh], dtype=np.float64)),
        household_village=np.array(
            [codes.setdefault(h.village_id, len(codes)) for h in hh], np.int64
        ),
        effort=1 + np.array([h.n_causes for h in hh], dtype=np.int64),
        cadre_lat=np.radians(np.array([c.lat for c in cc], dtype=np.float64)),
        cadre_lng=np.radians(np.array([c.lng for c in cc], dtype=np.float64)),
        cadre_village=np.array([codes.get(c.village_id or "", -1) for c in cc], np.int64),
        quota=np.array(
            [problem.quota_by_rank[c.rank] if c.quota is None else c.quota for c in cc],
            dtype=np.int64,
        ),
        rank_cost=_rank_cost(problem),
    )


def _rank_cost(problem: ContractingProblem) -> IntArray:
    """Soft (rank balance): higher ranks carry more (责任按职级), so a lower rank's pairs cost
    more per effort unit. Only on the default costs: an office's own scores stand as given."""
    ranks = np.array([c.rank for c in problem.cadres], dtype=np.int64)
    if problem.scores is not None or not len(ranks):
        return np.zeros(len(ranks), dtype=np.int64)
    cost: IntArray = problem.rank_balance_m * (ranks.max() - ranks)
    return cost


@dataclass(frozen=True)
class Pairs:
    """Candidate pairs, sorted by household then cadre, and who needs a cadre."""

    sites: Sites
    household: IntArray
    cadre: IntArray
    cost: IntArray
    effort: IntArray
    needy: IntArray  # households that need a cadre and have a candidate, ascending
    hopeless: IntArray  # households that need a cadre and have none

    @cached_property
    def row(self) -> IntArray:
        """Each pair's household as its position in ``needy`` (the model's row)."""
        row: IntArray = np.searchsorted(self.needy, self.household)
        return row


def build_pairs(problem: ContractingProblem) -> Pairs:
    """Hard: a cadre takes a household only if its whole quota fits the household's effort."""
    sites = build_sites(problem)
    poor = [i for i, h in enumerate(problem.households) if h.status in problem.statuses]
    need = np.array(poor, dtype=np.int64)
    if problem.scores is not None:
        h, c, cost, effort = _scored(problem, need)
    else:
        width = max(len(problem.cadres), 1)
        keys = [_nearest(problem, sites, need, width), _own_village(sites, need, width)]
        key = np.unique(np.concatenate(keys))
        h, c = key // width, key % width
        effort = sites.effort[h]
        cost = np.empty(0, np.int64)
    fits = effort <= sites.quota[c]
    h, c, effort = h[fits], c[fits], effort[fits]
    cost = cost[fits] if problem.scores is not None else _cost(sites, h, c)
    needy = np.unique(h)
    return Pairs(sites, h, c, cost, effort, needy, np.setdiff1d(need, needy))


def _scored(
    problem: ContractingProblem, need: IntArray
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """The listed pairs of households that need a cadre, by household then cadre."""
    scores = problem.scores
    assert scores is not None
    needs = np.zeros(len(problem.households), dtype=bool)
    needs[need] = True
    keep = np.flatnonzero(needs[scores.household])
    keep = keep[np.lexsort((scores.cadre[keep], scores.household[keep]))]
    return scores.household[keep], scores.cadre[keep], scores.cost[keep], scores.effort[keep]


def _nearest(problem: ContractingProblem, sites: Sites, need: IntArray, width: int) -> IntArray:
    """Keys h·width + c of each household's ``k_nearest`` cheapest cadres that can take it,
    and with the rank balance term its ⌈k/2⌉ nearest too: the cheapest alone are nearly all
    senior cadres, whose quotas cannot hold everyone (2,000 × 20,000 left 139 households out).
    """
    n_cadres = len(problem.cadres)
    k = min(problem.k_nearest, n_cadres)
    balanced = bool(sites.rank_cost.any())
    groups = np.unique(np.column_stack([sites.rank_cost, sites.quota]), axis=0)
    if k and len(groups) <= MAX_TREE_GROUPS:
        keys: IntArray = _nearest_by_tree(sites, need, k, balanced, groups) @ np.array([width, 1])
        return keys
    found = [np.empty(0, np.int64)]
    step = max(1, _PAIRS_PER_BLOCK // max(n_cadres, 1))
    for start in range(0, len(need) if k else 0, step):
        block = need[start : start + step]
        cost = _block_cost(sites, block)
        cost[sites.effort[block, None] > sites.quota[None, :]] = np.inf
        h = np.broadcast_to(block[:, None], cost.shape)
        c = np.broadcast_to(np.arange(n_cadres, dtype=np.int64), cost.shape)
        found.append(_least(h, c, cost, k) @ np.array([width, 1]))
        if balanced:  # and the nearest, whose quotas the cheapest alone could not reach
            cost -= sites.effort[block, None] * sites.rank_cost[None, :]
            found.append(_least(h, c, cost, k - k // 2) @ np.array([width, 1]))
    return np.concatenate(found)


def _nearest_by_tree(
    sites: Sites, need: IntArray, k: int, balanced: bool, groups: IntArray
) -> IntArray:
    """(household, cadre) rows as ``_nearest`` picks them, from k-d trees: within a group of
    cadres of one rank cost and quota, cost grows with distance (a village's own cadres,
    at cost 0, are added anyway), so each household's cheapest are among its ``k`` nearest
    of each group. 20,000 households × 2,000 cadres: about a second, against 6–15 s for the
    dense cost matrix on the loaded benchmark machine."""
    cadre_xyz = _xyz(sites.cadre_lat, sites.cadre_lng)
    household_xyz = _xyz(sites.household_lat[need], sites.household_lng[need])
    effort = sites.effort[need]
    near = np.full((len(need), k * len(groups)), -1, dtype=np.int64)  # cadre; -1: none
    for g, (rank_cost, quota) in enumerate(groups.tolist()):
        members = np.flatnonzero((sites.rank_cost == rank_cost) & (sites.quota == quota))
        fit = np.flatnonzero(effort <= quota)
        kk = min(k, len(members))
        if len(fit):
            _, index = cKDTree(cadre_xyz[members]).query(household_xyz[fit], k=kk)
            index = np.asarray(index, dtype=np.int64).reshape(len(fit), kk)
            near[fit, g * k : g * k + kk] = members[index]
    h = np.repeat(need, near.shape[1]).reshape(near.shape)
    found = near >= 0
    cost = np.full(near.shape, np.inf)
    cost[found] = _cost(sites, h[found], near[found])
    rows = [_least(h, near, cost, k)]
    if balanced:
        cost[found] -= sites.effort[h[found]] * sites.rank_cost[near[found]]
        rows.append(_least(h, near, cost, k - k // 2))
    return np.concatenate(rows)


def _least(h: IntArray, c: IntArray, cost: FloatArray, k: int) -> IntArray:
    """Rows (h, c) of each row's ``k`` least finite ``cost``."""
    pick = (
        np.argpartition(cost, k - 1, axis=1)[:, :k]
        if k < cost.shape[1]
        else np.argsort(cost, axis=1)
    )
    ok = np.isfinite(np.take_along_axis(cost, pick, axis=1))
    return np.column_stack(
        [np.take_along_axis(h, pick, axis=1)[ok], np.take_along_axis(c, pick, axis=1)[ok]]
    )


def _xyz(lat: FloatArray, lng: FloatArray) -> FloatArray:
    """Unit vectors of points given in radians: chord distance orders as great-circle does."""
    cos = np.cos(lat)
    return np.column_stack([cos * np.cos(lng), cos * np.sin(lng), np.sin(lat)])


def _block_cost(sites: Sites, block: IntArray) -> FloatArray:
    """Costs of ``block`` households × all cadres, as a float matrix."""
    metres = geo.haversine_m(
        sites.household_lat[block, None],
        sites.household_lng[block, None],
        sites.cadre_lat[None, :],
        sites.cadre_lng[None, :],
    )
    np.rint(metres, out=metres)
    metres += 1
    same = sites.household_village[block, None] == sites.cadre_village[None, :]
    metres[same] = 0
    metres += sites.effort[block, None] * sites.rank_cost[None, :]
    return metres


def _own_village(sites: Sites, need: IntArray, width: int) -> IntArray:
    """Keys h·width + c of every (household, cadre stationed in its village) pair."""
    order = np.argsort(sites.cadre_village, kind="stable")
    ordered = sites.cadre_village[order]
    home = sites.household_village[need]
    first = np.searchsorted(ordered, home, side="left")
    count = np.searchsorted(ordered, home, side="right") - first
    keys: IntArray = np.repeat(need, count) * width + order[spans(first, count)]
    return keys


def _cost(sites: Sites, h: IntArray, c: IntArray) -> IntArray:
    """Soft: 0 in the household's own village, else 1 + metres (unless the problem is scored),
    plus the rank balance term per effort unit."""
    same = sites.household_village[h] == sites.cadre_village[c]
    metres = np.rint(distance_m(sites, h, c)).astype(np.int64) + 1
    cost: IntArray = np.where(same, 0, metres) + sites.effort[h] * sites.rank_cost[c]
    return cost


def distance_m(sites: Sites, h: IntArray, c: IntArray) -> FloatArray:
    """Great-circle distance of each pair, in metres."""
    return geo.haversine_m(
        sites.household_lat[h], sites.household_lng[h], sites.cadre_lat[c], sites.cadre_lng[c]
    )
