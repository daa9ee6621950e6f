"""Candidate (household, cadre) pairs for contracting, their cost and effort.

Each household that needs a cadre considers its ``k_nearest`` cheapest cadres whose whole
quota fits its effort, plus every cadre stationed in its village; a scored problem considers
exactly its listed pairs whose effort fits the cadre's quota. Costs are computed a block
of households at a time against all cadres, with numpy broadcasting: 20,000 × 2,000 pairs
in a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from matcher.solvers.common import geo
from matcher.solvers.common.sparse import spans
from matcher.solvers.contracting.problem import ContractingProblem

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

_PAIRS_PER_BLOCK = 2_000_000


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
    """Keys h·width + c of each household's ``k_nearest`` cheapest cadres that can take it."""
    n_cadres = len(problem.cadres)
    k = min(problem.k_nearest, n_cadres)
    found = [np.empty(0, np.int64)]
    step = max(1, _PAIRS_PER_BLOCK // max(n_cadres, 1))
    for start in range(0, len(need) if k else 0, step):
        block = need[start : start + step]
        cost = _block_cost(sites, block)
        cost[sites.effort[block, None] > sites.quota[None, :]] = np.inf
        pick = (
            np.argpartition(cost, k - 1, axis=1)[:, :k]
            if k < n_cadres
            else np.argsort(cost, axis=1)
        )
        ok = np.isfinite(np.take_along_axis(cost, pick, axis=1))
        found.append((block[:, None] * width + pick)[ok])
    return np.concatenate(found)


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
