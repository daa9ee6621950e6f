"""CP-SAT polish of a large instance, a few thousand households at a time (a focused LNS).

Why: CP-SAT's own LNS cannot cope with a 200,000-variable model (each neighbourhood takes tens
of seconds to build), and its search on the whole model does not improve the start in 30 s.
The start from prices is wrong only near the margin, so re-solve exactly there: households
whose choice is closest to indifference at the prices (and those the cap constrains, which the
prices ignore) come first. Each round frees one chunk of households, keeps everyone else's
grants, and lets CP-SAT re-allocate what the chunk holds (its budgets' residue, its caps, its
share of each quota); the round's hint is the current solution, so no round makes it worse.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from matcher.solvers.aid.greedy import Assignment
from matcher.solvers.aid.market import FloatArray
from matcher.solvers.aid.model import assignment_of, build_model, hint, maximise_need, values_of
from matcher.solvers.aid.pairs import BoolArray, IntArray, Pairs, QuotaTarget
from matcher.solvers.aid.prices import PriceSearch
from matcher.solvers.aid.problem import AidProblem
from matcher.solvers.aid.search import Clock, run
from matcher.solvers.common.solving import relative_gap

_CHUNK_COLUMNS = 6_000  # pairs per round: CP-SAT's LP and search are quick at this size
_ROUND_S = 2.0
_MIN_ROUND_S = 0.3


def polish(
    problem: AidProblem,
    pairs: Pairs,
    targets: tuple[QuotaTarget, ...],
    start: Assignment,
    search: PriceSearch,
    clock: Clock,
) -> Assignment:
    """Rounds over chunks of households, most marginal first, until time runs out, a whole
    pass brings nothing or the gap to the prices' bound is within ``relative_gap``.
    ``start`` must meet every quota."""
    order = marginal_households(problem, pairs, start, search, clock.params.seed)
    current, value = start, start.value(pairs)
    overhead = 0.0  # of the last round beyond CP-SAT's own time: building, merging
    improved = True
    while improved:
        improved = False
        for chunk in _chunks(order, pairs):
            seconds = min(_ROUND_S, clock.left() - overhead)
            close = relative_gap(value, search.prices.bound) <= clock.params.relative_gap
            if seconds < _MIN_ROUND_S or close:
                return current
            began = clock.elapsed()
            candidate = _resolve(problem, pairs, targets, current, chunk, clock, seconds)
            overhead = max(0.0, clock.elapsed() - began - seconds)
            if candidate.value(pairs) > value:
                current, value, improved = candidate, candidate.value(pairs), True
                _report(clock, value, search.prices.bound)
    return current


def marginal_households(
    problem: AidProblem, pairs: Pairs, start: Assignment, search: PriceSearch, seed: int
) -> IntArray:
    """Households with a grantable pair, those whose choice is nearest indifference first.

    Closeness of a pair: how far its options' profits are from each other and from its
    class's alternative, per fen and relative to its budget's price; households whose
    unpriced choices would pass the cap come first of all.
    """
    market, prices = search.market, search.prices
    small, full, best = market.profits(market.costs(prices.budget, prices.quota))
    other = market.alternatives(best)
    span = np.maximum(market.full_fen - market.small_fen, 1.0)
    gaps = np.minimum(
        np.abs(small - other) / market.small_fen,
        np.minimum(np.abs(full - other) / market.full_fen, np.abs(full - small) / span),
    )
    price = prices.budget[market.programme]
    closeness = np.where(price > 0, gaps / np.where(price > 0, price, 1.0), np.inf)
    score: FloatArray = np.full(len(problem.households), np.inf)
    np.minimum.at(score, pairs.household[market.pair], closeness)
    if problem.household_cap_fen is not None:
        leaders = market.leaders(best)
        wanted = np.where(full > small, market.full_fen, market.small_fen)[leaders]
        demand = np.zeros(len(problem.households))
        np.add.at(demand, pairs.household[market.pair[leaders]], wanted)
        score[demand > problem.household_cap_fen] = -1.0
    candidates = np.unique(pairs.household[market.pair])
    shuffled = np.random.default_rng(seed).permutation(candidates)  # ties in random order
    ranked: IntArray = shuffled[np.argsort(score[shuffled], kind="stable")]
    return ranked


def _chunks(order: IntArray, pairs: Pairs) -> Iterator[IntArray]:
    """Consecutive runs of ``order`` holding about ``_CHUNK_COLUMNS`` grantable pairs each."""
    per_household = np.bincount(pairs.household[pairs.grantable], minlength=len(order))
    filled = np.cumsum(per_household[order]) // _CHUNK_COLUMNS
    for start, end in zip(*_runs(filled), strict=True):
        yield order[start:end]


def _runs(labels: IntArray) -> tuple[list[int], list[int]]:
    """Start and end of each run of equal values in ``labels``."""
    if len(labels) == 0:
        return [], []
    starts = np.flatnonzero(np.concatenate([[True], labels[1:] != labels[:-1]]))
    return starts.tolist(), [*starts[1:].tolist(), len(labels)]


def _resolve(
    problem: AidProblem,
    pairs: Pairs,
    targets: tuple[QuotaTarget, ...],
    current: Assignment,
    chunk: IntArray,
    clock: Clock,
    seconds: float,
) -> Assignment:
    """Re-solve the chunk's grants exactly, everyone else's fixed; never worse than current."""
    inside_household = np.zeros(len(problem.households), dtype=np.bool_)
    inside_household[chunk] = True
    inside: BoolArray = inside_household[pairs.household] & pairs.grantable
    amounts = current.amounts(pairs)
    held = np.zeros(len(problem.programmes), dtype=np.int64)
    np.add.at(held, pairs.programme[~inside], amounts[~inside])
    residue = pairs.table.budget_fen - held
    room = residue[pairs.programme] - pairs.min_fen
    steps = np.where(inside & (room >= 0), np.minimum(pairs.max_steps, room // pairs.step_fen), -1)
    local = replace(pairs, max_steps=steps, table=replace(pairs.table, budget_fen=residue))
    local_targets = tuple(
        QuotaTarget(
            t.programme,
            t.members[inside[t.members]],
            max(0, t.required_fen - int(amounts[t.members[~inside[t.members]]].sum())),
        )
        for t in targets
    )
    aid = build_model(problem, local, local_targets)
    maximise_need(aid)
    hint(aid, values_of(aid, current))
    outcome = run(aid, clock, seconds, report=False)
    if outcome.values is None:
        return current
    found = assignment_of(aid, outcome.values)
    granted = np.where(inside, found.granted, current.granted)
    return Assignment(granted, np.where(inside, found.steps, current.steps))


def _report(clock: Clock, value: int, bound: float) -> None:
    if clock.params.progress is not None:
        clock.params.progress(float(value), bound, clock.elapsed())
