"""Improve a contracting by local moves, priced a round at a time with numpy.

Three moves, each within the candidate pairs and the quotas:

- **shift**: a household to another of its candidate cadres with quota left;
- **swap**: two households on different cadres exchange them;
- **ejection**: a household takes another cadre, and a household of that cadre makes room by
  moving on to its own best cadre with quota left (a chain of two shifts).

A round prices every move at once from the current contracts: a pair's delta is its cost less
its household's current pair's, so the rank balance term (a cost per effort unit of the pair)
counts exactly. A pair through which no household of its cadre could gain enough to pay for
it is dropped before the swaps and ejections are listed (exact: that bound ignores quotas).
The improving moves are then applied best first, never two touching one cadre in a round, so
each stays feasible and gains exactly what it was priced at. Rounds repeat until none
improves or the time is up: the cost never rises and no quota is ever exceeded.

Why: at 2,000 cadres × 20,000 households (512,615 pairs) the CP-SAT windows (``search``) gain
a fraction of a percent a minute on a loaded machine; a round here takes well under a second.
"""

from __future__ import annotations

import math
import time

import numpy as np

from matcher.solvers.common.sparse import IntArray, spans
from matcher.solvers.contracting.pairs import Pairs

_NONE = np.iinfo(np.int64).max // 4  # the delta of a move that does not exist
# Pairs tried for swaps and ejections at a time (those whose bound promises most first), each
# against every household of its cadre, until some move pays: all 200,000-odd of them at
# once made a round take 8–15 s at 2,000 × 20,000, the best 20,000 about 0.4 s.
MAX_THROUGH = 20_000

# One improving move a row: (delta, the first household's new pair, its current pair, the
# second household's new pair, its current pair); the second two are -1 in a shift.
Moves = IntArray


def improve(pairs: Pairs, chosen: IntArray, seconds: float, target: int) -> IntArray:
    """``chosen`` (a full cover) after rounds of moves, for at most ``seconds`` or until its
    cost is at most ``target``; never costlier, never over a quota."""
    deadline = time.perf_counter() + seconds
    if len(chosen) == 0 or len(chosen) != len(pairs.needy):  # empty, or not a full cover
        return chosen
    at = np.empty(len(pairs.needy), dtype=np.int64)  # each household's pair, by row
    at[pairs.row[chosen]] = chosen
    left = pairs.sites.quota.copy()
    np.subtract.at(left, pairs.cadre[chosen], pairs.effort[chosen])
    first = np.searchsorted(pairs.row, np.arange(len(pairs.needy)))
    last = 0.0  # the last round's duration: a round starts only if one as long still fits
    while time.perf_counter() + last < deadline and int(pairs.cost[at].sum()) > target:
        began = time.perf_counter()
        moves = priced_moves(pairs, at, left, first, deadline)
        if not len(moves) or not apply_moves(pairs, at, left, moves):
            break
        last = time.perf_counter() - began
    return np.sort(at)


def priced_moves(
    pairs: Pairs, at: IntArray, left: IntArray, first: IntArray, deadline: float = math.inf
) -> Moves:
    """The improving moves from contracts ``at`` (quota ``left``), best first. ``first`` is
    each household row's first pair; no chunk of swaps and ejections starts after
    ``deadline``."""
    cur = at[pairs.row]  # each pair's household's current pair
    delta = pairs.cost - pairs.cost[cur]
    other = pairs.cadre != pairs.cadre[cur]
    fits = left[pairs.cadre] >= pairs.effort
    shifts = np.flatnonzero(other & fits & (delta < 0))
    onward = _best_per_row(np.where(other & fits, delta, _NONE), pairs.row, first)
    reach = np.minimum.reduceat(np.where(other, delta, _NONE), first)
    on = at[np.argsort(pairs.cadre[at], kind="stable")]  # current pairs, by cadre
    n_cadres = len(left)
    on_first = np.searchsorted(pairs.cadre[on], np.arange(n_cadres))
    on_count = np.diff(np.append(on_first, len(on)))
    gain = np.full(n_cadres, _NONE)  # the most a household of the cadre could gain by leaving
    np.minimum.at(gain, pairs.cadre[on], reach[pairs.row[on]])
    promise = np.where(other, delta + gain[pairs.cadre], _NONE)
    through = np.flatnonzero(promise < 0)
    through = through[np.argsort(promise[through], kind="stable")]
    moves = _rows(delta[shifts], shifts, cur[shifts], -1, -1)
    for start in range(0, len(through), MAX_THROUGH):  # until some swap or ejection pays
        if time.perf_counter() > deadline:
            break
        chunk = through[start : start + MAX_THROUGH]
        more = _pairs_moves(pairs, left, cur, delta, chunk, on, on_first, on_count, onward)
        moves = np.concatenate([moves, more[more[:, 0] < 0]])
        if len(moves):
            break
    best: Moves = moves[np.argsort(moves[:, 0], kind="stable")]
    return best


def _pairs_moves(
    pairs: Pairs,
    left: IntArray,
    cur: IntArray,
    delta: IntArray,
    through: IntArray,
    on: IntArray,
    on_first: IntArray,
    on_count: IntArray,
    onward: IntArray,
) -> Moves:
    """Swaps and ejections: the household of each pair in ``through`` takes its cadre, with
    each household of that cadre in turn taking the first's old cadre or moving onward."""
    b = pairs.cadre[through]
    q = np.repeat(through, on_count[b])  # the first household's new pair
    p2 = on[spans(on_first[b], on_count[b])]  # the second household's current pair
    b = pairs.cadre[q]
    old = cur[q]
    a = pairs.cadre[old]
    room = left[b] + pairs.effort[p2] >= pairs.effort[q]
    s = _pair_index(pairs, pairs.household[p2], a)
    swap = room & (s >= 0) & (left[a] + pairs.effort[old] >= pairs.effort[np.maximum(s, 0)])
    r = onward[pairs.row[p2]]
    eject = room & (r >= 0)
    swap_delta = np.where(swap, delta[q] + delta[np.maximum(s, 0)], _NONE)
    eject_delta = np.where(eject, delta[q] + delta[np.maximum(r, 0)], _NONE)
    by_swap = swap_delta <= eject_delta
    return _rows(np.minimum(swap_delta, eject_delta), q, old, np.where(by_swap, s, r), p2)


def _pair_index(pairs: Pairs, household: IntArray, cadre: IntArray) -> IntArray:
    """The index of each (household, cadre) pair, -1 where it is not a candidate (pairs sort
    by household, then cadre)."""
    width = max(len(pairs.sites.quota), 1)
    keys = pairs.household * width + pairs.cadre
    wanted = household * width + cadre
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    found: IntArray = np.where(keys[at] == wanted, at, -1)
    return found


def _rows(delta: IntArray, *columns: IntArray | int) -> Moves:
    n = len(delta)
    rows: Moves = np.column_stack(
        [delta, *(np.broadcast_to(np.asarray(c, dtype=np.int64), n) for c in columns)]
    )
    return rows


def _best_per_row(value: IntArray, row: IntArray, first: IntArray) -> IntArray:
    """Each row's pair of least ``value`` (-1 where all are _NONE); pairs sorted by row."""
    order = np.lexsort((value, row))
    best = order[first]
    found: IntArray = np.where(value[best] < _NONE, best, -1)
    return found


def apply_moves(pairs: Pairs, at: IntArray, left: IntArray, moves: Moves) -> int:
    """Apply ``moves`` in order, each only if its households are still where it was priced
    (then its delta holds) and the quotas still hold it; how many were applied."""
    row, cadre, effort = pairs.row, pairs.cadre, pairs.effort
    done = 0
    for _, new, old, new2, old2 in moves.tolist():
        if at[row[new]] != old or (new2 >= 0 and at[row[new2]] != old2):
            continue
        change = {int(cadre[new]): -int(effort[new])}
        for p, sign in ((old, 1), (new2, -1), (old2, 1)):
            if p >= 0:
                c = int(cadre[p])
                change[c] = change.get(c, 0) + sign * int(effort[p])
        if any(left[c] + d < 0 for c, d in change.items()):
            continue
        for c, d in change.items():
            left[c] += d
        at[row[new]] = new
        if new2 >= 0:
            at[row[new2]] = new2
        done += 1
    return done
