"""Candidate arcs cadre → village, as parallel numpy arrays, with their integer costs.

An arc is a candidate pair within the cadre's ``max_distance_km`` (every such pair when the
problem gives no candidates), plus the cadre's current posting when within distance. A pinned
cadre has exactly one arc, its posting, whatever the distance. Nothing here loops over arcs in
Python: 7.5 million candidate pairs become arcs in about a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from matcher.solvers.common import geo
from matcher.solvers.stationing.problem import StationingProblem

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]
_T = TypeVar("_T", bound=NDArray[Any])

_PAIRS_PER_CHUNK = 4_000_000  # all-pairs distances are computed this many at a time


@dataclass(frozen=True)
class Sites:
    """Per-cadre and per-village arrays, indexed like ``problem.cadres`` / ``problem.villages``."""

    lat: FloatArray  # radians, cadres
    lng: FloatArray
    cos_lat: FloatArray
    max_m: FloatArray
    rank: IntArray
    current: IntArray  # village index of the current posting, -1 if none or outside
    pinned: BoolArray
    village_lat: FloatArray  # radians
    village_lng: FloatArray
    village_cos_lat: FloatArray
    team_min: IntArray
    team_max: IntArray
    min_rank: IntArray


@dataclass(frozen=True)
class Arcs:
    """One entry per arc; ``cost`` is the distance minus the continuity bonus of kept arcs."""

    sites: Sites
    cadre: IntArray
    village: IntArray
    dist_m: IntArray
    kept: BoolArray  # the cadre's current posting
    cost: IntArray
    continuity_offset: int  # threshold × cadres who can stay: so leaving costs the threshold

    def __len__(self) -> int:
        return len(self.cadre)

    @property
    def pinned(self) -> BoolArray:
        pinned: BoolArray = self.sites.pinned[self.cadre]
        return pinned

    def subset(self, index: IntArray) -> Arcs:
        """The arcs at ``index``, in that order (the offset still counts every kept arc)."""
        return Arcs(
            self.sites,
            self.cadre[index],
            self.village[index],
            self.dist_m[index],
            self.kept[index],
            self.cost[index],
            self.continuity_offset,
        )

    def unique(self) -> Arcs:
        """Arcs without repeated (cadre, village) pairs, sorted by cadre then village."""
        key = self.cadre * len(self.sites.team_min) + self.village
        _, first = np.unique(key, return_index=True)
        return self.subset(first.astype(np.int64))


def build_sites(problem: StationingProblem) -> Sites:
    """Gather the fields the models use into arrays."""
    cadres, villages = problem.cadres, problem.villages
    n = len(cadres)
    index = {v.id: j for j, v in enumerate(villages)}
    # One pass over the cadres: with 250,000 of them every pass costs ~0.1 s.
    fields = np.array(
        [
            (
                c.lat,
                c.lng,
                c.max_distance_km,
                c.rank,
                index.get(c.current_village_id or "", -1),
                c.pinned,
            )
            for c in cadres
        ],
        dtype=np.float64,
    ).reshape(n, 6)
    lat = np.radians(fields[:, 0])
    village_lat = np.radians(np.array([v.lat for v in villages], dtype=np.float64))
    return Sites(
        lat=lat,
        lng=np.radians(fields[:, 1]),
        cos_lat=np.cos(lat),
        max_m=fields[:, 2] * 1000.0,
        rank=fields[:, 3].astype(np.int64),
        current=fields[:, 4].astype(np.int64),
        pinned=fields[:, 5] != 0,
        village_lat=village_lat,
        village_lng=np.radians(np.array([v.lng for v in villages], dtype=np.float64)),
        village_cos_lat=np.cos(village_lat),
        team_min=np.array([v.team_min for v in villages], dtype=np.int64),
        team_max=np.array([v.team_max for v in villages], dtype=np.int64),
        min_rank=np.array([v.min_secretary_rank for v in villages], dtype=np.int64),
    )


def build_arcs(problem: StationingProblem) -> Arcs:
    """Hard: arcs only within the cadre's maximum distance; a pinned cadre's only arc is its
    posting. The current posting is always an arc when within distance (continuity).

    Candidate pairs may repeat (harmless to the flow; the exact path drops repeats).
    """
    sites = build_sites(problem)
    cadre, village = _candidate_pairs(problem, sites)
    kept = village == sites.current[cadre]
    # Current postings the candidates miss are appended; usually there are none to copy for.
    listed = np.zeros(len(sites.rank), dtype=np.bool_)
    listed[cadre[kept]] = True
    missing = np.flatnonzero((sites.current >= 0) & ~listed)
    if len(missing):
        cadre = np.concatenate([cadre, missing])
        village = np.concatenate([village, sites.current[missing]])
        kept = np.concatenate([kept, np.ones(len(missing), dtype=np.bool_)])
    if sites.pinned.any():  # a pinned cadre keeps only its posting
        other = ~(sites.pinned[cadre] & ~kept)
        cadre, village, kept = _take(cadre, other), _take(village, other), _take(kept, other)
    dist = _distance_m(sites, cadre, village)
    near = (dist <= sites.max_m[cadre]) | sites.pinned[cadre]
    cadre, village = _take(cadre, near), _take(village, near)
    kept, dist = _take(kept, near), _take(dist, near)
    dist_m = np.rint(dist).astype(np.int64)
    threshold = problem.continuity_threshold
    cost = dist_m - threshold * kept if threshold else dist_m
    keepers = int(np.count_nonzero(np.bincount(cadre[kept], minlength=len(sites.rank))))
    return Arcs(sites, cadre, village, dist_m, kept, cost, threshold * keepers)


def _take(values: _T, mask: BoolArray) -> _T:
    """``values[mask]``, without the copy when the mask keeps everything (the usual case)."""
    return values if mask.all() else values[mask]  # type: ignore[return-value]


def _candidate_pairs(problem: StationingProblem, sites: Sites) -> tuple[IntArray, IntArray]:
    """The problem's candidate pairs, or every pair within distance (computed in chunks)."""
    if problem.candidates is not None:
        return problem.candidates
    n_villages = len(problem.villages)
    step = max(1, _PAIRS_PER_CHUNK // max(n_villages, 1))
    cadres, villages = [], []
    for start in range(0, len(problem.cadres), step):
        block = np.arange(start, min(start + step, len(problem.cadres)), dtype=np.int64)
        c = np.repeat(block, n_villages)
        v = np.tile(np.arange(n_villages, dtype=np.int64), len(block))
        near = _distance_m(sites, c, v) <= sites.max_m[c]
        cadres.append(c[near])
        villages.append(v[near])
    empty = np.empty(0, dtype=np.int64)
    return np.concatenate([empty, *cadres]), np.concatenate([empty, *villages])


def _distance_m(sites: Sites, cadre: IntArray, village: IntArray) -> FloatArray:
    """Great-circle distance of each arc, in metres."""
    return geo.haversine_m(
        sites.lat[cadre],
        sites.lng[cadre],
        sites.village_lat[village],
        sites.village_lng[village],
        sites.cos_lat[cadre],
        sites.village_cos_lat[village],
    )
