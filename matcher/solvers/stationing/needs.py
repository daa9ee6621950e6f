"""The needs of each village a team must cover, and which arcs bring each skill."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.solvers.stationing.arcs import Arcs, IntArray
from matcher.solvers.stationing.problem import Coverage, StationingProblem


@dataclass(frozen=True)
class Needs:
    """(village, need) pairs to cover, and the arcs that cover each: terms (pair, arc)."""

    village: IntArray
    tag: list[str]
    pair: IntArray
    arc: IntArray


def find_needs(problem: StationingProblem, arcs: Arcs) -> Needs:
    """Each village need (when coverage is on) and the arcs whose cadre has that skill."""
    if problem.coverage is Coverage.OFF:
        empty = np.empty(0, np.int64)
        return Needs(empty, [], empty, empty)
    pairs = [(j, t) for j, v in enumerate(problem.villages) for t in sorted(v.needs)]
    villages = np.array([j for j, _ in pairs], dtype=np.int64)
    tags = [t for _, t in pairs]
    pair_terms, arc_terms = [], []
    for tag in sorted(set(tags)):
        has = np.fromiter((tag in c.skills for c in problem.cadres), np.bool_, len(problem.cadres))
        key = np.full(len(arcs.sites.team_min), -1, dtype=np.int64)
        mine = np.array([t == tag for t in tags], dtype=np.bool_)
        key[villages[mine]] = np.flatnonzero(mine)
        covering = np.flatnonzero(has[arcs.cadre] & (key[arcs.village] >= 0))
        pair_terms.append(key[arcs.village[covering]])
        arc_terms.append(covering)
    empty = np.empty(0, np.int64)
    return Needs(
        villages, tags, np.concatenate([empty, *pair_terms]), np.concatenate([empty, *arc_terms])
    )


def uncoverable(problem: StationingProblem, needs: Needs) -> tuple[tuple[str, str], ...]:
    """Needs no cadre within reach has the skill for."""
    supported = np.zeros(len(needs.village), dtype=np.bool_)
    supported[needs.pair] = True
    return tuple(
        (problem.villages[j].id, needs.tag[k])
        for k, j in enumerate(needs.village.tolist())
        if not supported[k]
    )
