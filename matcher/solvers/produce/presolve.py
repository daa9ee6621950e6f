"""Exact presolve of the transportation flow: the arcs no optimal flow uses.

Let D bound the kilograms any flow ships: the smaller of all supply and what the orders can
take (each its demand, but no more than its arcs carry). If the arcs into order j that are
strictly heavier than arc (i, j) can carry D kg between them (each arc its capacity, but no
more than its listing's supply), then no optimal flow puts a kilogram on (i, j), and the
flow drops it:

    Let x be a flow with x_ij > 0 and K the arcs into j heavier than (i, j); their listings
    are not i (a pair has one arc). Were every arc of K full or its listing sold out, K's
    listings would ship at least K's capacity ≥ D kg, and i x_ij kg more: more than any flow
    ships. So some (i', j) in K has room and i' has kg left; moving them from (i, j) to
    (i', j) keeps every order's kilograms and raises the value: x is not optimal.

A listing that must sell everything (POVERTY_FIRST's second stage) cannot give kilograms
away, so its arcs are kept. The flow on the arcs kept is then optimal on all of them, and
everything read from an optimal flow (the duals, the unsold listings' floors) reads it over
every arc as before.

Where supply far exceeds what the reachable orders take (the sparse case: 260 M kg for
58 M kg of orders, 30 nearest orders each) this drops 45% of the arcs. Each order's arcs
are ranked by one bincount over weight levels, not by a sort: a strictly higher level is a
strictly heavier weight, so the levels only make the rule keep more.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from matcher.solvers.produce.arcs import Arcs, Network

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

LEVELS = 256  # weight levels per order: (orders × LEVELS) sums, 20 MB at 10,000 orders
WORTH_IT = 0.1  # the least share of the arcs worth dropping: a subset costs copies


def needed_arcs(
    arcs: Arcs, net: Network, weight: IntArray, use: BoolArray, worth_it: float = WORTH_IT
) -> BoolArray:
    """The arcs of ``use`` that an optimal flow may use (``use`` itself when the rule above
    drops less than ``worth_it`` of them)."""
    at = np.flatnonzero(use) if not use.all() else None
    li, oi, w = arcs.listing, arcs.order, weight
    cap = arcs.capacity
    if at is not None:
        li, oi, w, cap = li[at], oi[at], w[at], cap[at]
    m = net.demand.size
    if li.size == 0:
        return use
    lowest, span = int(w.min()), int(w.max()) - int(w.min())
    level = w - lowest
    if span >= LEVELS:  # rounding is monotone: a higher level is still a heavier weight
        level = (level * ((LEVELS - 1) / span)).astype(np.int64)
    levels = min(span + 1, LEVELS)
    cell = oi * levels + level
    carry = np.minimum(cap, net.supply[li]).astype(np.float64)  # exact below 2**53 kg
    room = np.bincount(cell, carry, m * levels).reshape(m, levels)
    takes = np.minimum(net.demand, room.sum(axis=1))  # the most each order can receive
    bound = min(int(takes.sum()), int(net.supply.sum()))
    heavier = np.cumsum(room[:, ::-1], axis=1)[:, ::-1] - room  # in strictly higher levels
    drop: BoolArray = heavier.ravel()[cell] >= bound
    if net.forced_listings.any():
        drop &= ~net.forced_listings[li]
    if drop.sum() < worth_it * li.size:
        return use
    if at is None:
        return ~drop
    kept = np.zeros(use.size, np.bool_)
    kept[at[~drop]] = True
    return kept
