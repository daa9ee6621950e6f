"""The contracting greedy baseline and its repair: cheapest candidates with quota left, most
constrained households first, then one ejection per household left out."""

from __future__ import annotations

import numpy as np

from matcher.solvers.contracting.pairs import IntArray, Pairs


def greedy(pairs: Pairs, start: IntArray | None = None) -> IntArray:
    """Chosen pair indices: ``start`` pairs first (most trusted first) where they still fit,
    then households with the fewest candidates (largest effort on ties) each take their
    cheapest candidate with quota left. Some households may stay uncovered."""
    left = pairs.sites.quota.tolist()
    cadre, effort, household = pairs.cadre.tolist(), pairs.effort.tolist(), pairs.household.tolist()
    done: set[int] = set()
    chosen = []
    order = np.lexsort((pairs.cost, pairs.household))  # by household, cheapest first
    starts = np.searchsorted(pairs.household[order], pairs.needy)
    counts = np.diff(np.append(starts, len(order)))
    biggest = np.maximum.reduceat(pairs.effort[order], starts) if len(starts) else starts
    queue = [] if start is None else start.tolist()
    for i in np.lexsort((-biggest, counts)).tolist():
        queue += order[starts[i] : starts[i] + counts[i]].tolist()
    for p in queue:
        if household[p] not in done and left[cadre[p]] >= effort[p]:
            left[cadre[p]] -= effort[p]
            done.add(household[p])
            chosen.append(p)
    return np.array(sorted(chosen), dtype=np.int64)


def repair(pairs: Pairs, chosen: IntArray) -> IntArray:
    """Cover households ``chosen`` leaves out by one ejection each where possible: a household
    on one of their candidate cadres moves to another of its candidates with quota left,
    freeing enough room (cheapest such move first)."""
    left = pairs.sites.quota.copy()
    np.subtract.at(left, pairs.cadre[chosen], pairs.effort[chosen])
    at = dict(zip(pairs.household[chosen].tolist(), chosen.tolist(), strict=True))
    options = _options(pairs)
    on_cadre: dict[int, set[int]] = {}  # each cadre's pairs in ``at``
    for q in at.values():
        on_cadre.setdefault(int(pairs.cadre[q]), set()).add(q)
    for h in np.setdiff1d(pairs.needy, pairs.household[chosen]).tolist():
        move = _cheapest_ejection(pairs, h, on_cadre, left, options)
        if move is None:
            continue
        p, shift = move  # h takes p, after the household on q moves to r
        if shift is not None:
            q, r = shift
            left[pairs.cadre[q]] += pairs.effort[q]
            left[pairs.cadre[r]] -= pairs.effort[r]
            at[int(pairs.household[q])] = r
            on_cadre[int(pairs.cadre[q])].discard(q)
            on_cadre.setdefault(int(pairs.cadre[r]), set()).add(r)
        left[pairs.cadre[p]] -= pairs.effort[p]
        at[h] = p
        on_cadre.setdefault(int(pairs.cadre[p]), set()).add(p)
    return np.array(sorted(at.values()), dtype=np.int64)


def _options(pairs: Pairs) -> dict[int, list[int]]:
    """Each household's candidate pairs, cheapest first."""
    order = np.lexsort((pairs.cost, pairs.household))
    household = pairs.household[order]
    first = np.flatnonzero(np.concatenate([[True], household[1:] != household[:-1]]))
    split = np.split(order, first[1:])
    return dict(zip(household[first].tolist(), (s.tolist() for s in split), strict=True))


def _cheapest_ejection(
    pairs: Pairs,
    h: int,
    on_cadre: dict[int, set[int]],
    left: IntArray,
    options: dict[int, list[int]],
) -> tuple[int, tuple[int, int] | None] | None:
    """A pair for ``h`` and the move (from, to) that makes room for it (None if it fits as
    it is), at least added cost."""
    cadre, effort, cost = pairs.cadre, pairs.effort, pairs.cost
    best: tuple[int, tuple[int, int] | None] | None = None
    best_cost = None
    for p in options.get(h, []):
        c = int(cadre[p])
        if left[c] >= effort[p]:
            return p, None
        for q in sorted(on_cadre.get(c, ())):
            if left[c] + effort[q] < effort[p]:
                continue
            for r in options[int(pairs.household[q])]:
                if cadre[r] != c and left[cadre[r]] >= effort[r]:
                    extra = cost[p] + cost[r] - cost[q]
                    if best_cost is None or extra < best_cost:
                        best, best_cost = (p, (q, r)), extra
                    break
    return best
