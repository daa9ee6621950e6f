"""Prices for budgets and quotas: an upper bound near the LP optimum and a start near the optimum.

Why this exists: at 50,000 × 20 the CP-SAT model has ~200,000 variables, and in 30 s on two
cores CP-SAT neither finishes its LP relaxation (its bound stays ~3% high) nor improves on a
greedy start. Multiple knapsacks are nearly tight in their LP relaxation, so prices close to its
duals give both a bound (L in ``matcher.solvers.aid.market``) and, through the classes' choices, a
start
within a fraction of a percent of the optimum, which CP-SAT then takes as its hint.

The search: coordinate descent first (each price to where its programme's demand meets the
budget, the exact minimiser of L along that coordinate), which stalls where exclusive groups
couple programmes; then subgradient steps, deflected (Camerini–Fratta–Maffioli), with the
Polyak rule toward the best solution found, halving the step when L stops falling (Held–Karp).
At 50,000 × 20 this ends within ~0.01% of the LP bound (without caps) in about two seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from matcher.solvers.aid.greedy import Assignment, Ledger, fill_by_density, rank_of, serve_quota
from matcher.solvers.aid.market import FloatArray, Market, evaluate
from matcher.solvers.aid.pairs import BoolArray, IntArray, Pairs, QuotaTarget
from matcher.solvers.aid.problem import AidProblem

_SWEEPS = 3  # coordinate descent converges in a few sweeps, to a kink
_ITERATIONS = 400  # ~2 s at 50,000 × 20
_STALL = 12  # subgradient steps without a better L before the step is halved
_MIN_THETA = 1e-3
# When to turn prices into a solution (~0.7 s each at 50,000 × 20); the solutions vary by
# tenths of a percent between nearby prices, so several are tried, most near the end.
_CHECKPOINTS = frozenset({20, 60, 120, 200, 280, 360})
_TIED = 0.02  # options within 2% of their class's best profit count as a tie


@dataclass(frozen=True)
class Prices:
    """Prices per fen of each budget and quota, and the bound L they prove."""

    budget: FloatArray
    quota: FloatArray
    bound: float  # round up before reporting


@dataclass(frozen=True)
class PriceSearch:
    market: Market
    prices: Prices
    assignment: Assignment  # the best solution built from prices, or the start


def search_prices(
    problem: AidProblem,
    pairs: Pairs,
    targets: tuple[QuotaTarget, ...],
    start: Assignment,
    deadline: float,
) -> PriceSearch:
    """Prices minimising L as far as ``deadline`` allows, and the best solution they gave."""
    market = Market.of(problem, pairs, targets)
    budget, quota = np.zeros(len(market.budget)), np.zeros(len(market.required))
    for _ in range(_SWEEPS):
        _coordinate_sweep(market, budget, quota)
    best = Prices(budget.copy(), quota.copy(), evaluate(market, budget, quota).value)
    found = start if start.meets(targets, pairs) else None
    direction: FloatArray | None = None
    theta, stall = 1.0, 0
    for iteration in range(_ITERATIONS):
        if time.perf_counter() > deadline or theta < _MIN_THETA:
            break
        point = evaluate(market, budget, quota)
        if point.value < best.bound:
            best, stall = Prices(budget.copy(), quota.copy(), point.value), 0
        elif (stall := stall + 1) >= _STALL:
            theta, stall = theta / 2, 0
        if iteration in _CHECKPOINTS:
            here = Prices(budget, quota, point.value)
            found = _better(
                found, price_assignment(problem, pairs, targets, market, here), pairs, targets
            )
        target = found.value(pairs) if found is not None else 0.0
        gradient = np.concatenate([market.budget - point.spend, point.received - market.required])
        if not gradient.any() or best.bound < target + 1:  # L meets a solution: both optimal
            break
        direction = _deflect(gradient, direction)
        step = theta * max(point.value - target, 0.0) / float(direction @ direction) * direction
        budget = np.maximum(0.0, budget - step[: len(budget)])
        quota = np.maximum(0.0, quota - step[len(budget) :])
    found = _better(found, price_assignment(problem, pairs, targets, market, best), pairs, targets)
    return PriceSearch(market, best, found if found is not None else start)


def _deflect(gradient: FloatArray, previous: FloatArray | None) -> FloatArray:
    """Camerini–Fratta–Maffioli: add part of the previous direction when the new subgradient
    turns back on it. Programmes tied by an exclusive group otherwise make the prices zig-zag
    (households flip between them wholesale), and L stalls ~0.2% above its minimum."""
    if previous is None:
        return gradient
    turn = float(gradient @ previous)
    if turn >= 0:
        return gradient
    deflected: FloatArray = gradient - 1.5 * turn / float(previous @ previous) * previous
    return deflected


def _better(
    current: Assignment | None,
    candidate: Assignment,
    pairs: Pairs,
    targets: tuple[QuotaTarget, ...],
) -> Assignment | None:
    """The better of two solutions; one that misses a quota never wins."""
    if not candidate.meets(targets, pairs):
        return current
    if current is None or candidate.value(pairs) > current.value(pairs):
        return candidate
    return current


def price_assignment(
    problem: AidProblem,
    pairs: Pairs,
    targets: tuple[QuotaTarget, ...],
    market: Market,
    prices: Prices,
) -> Assignment:
    """The classes' choices at ``prices``, through the ledger (which keeps every hard rule):
    quotas first; then classes with one clear choice, surest (highest profit per fen) first;
    then classes torn between near-equal options, each to the option whose budget has the
    most left; then the runner-up of classes whose choice no longer fit; then whatever still
    fits by value per fen.

    Why the torn classes wait: prices that clear the budgets leave households eligible for
    two programmes of an exclusive group indifferent between them (the LP splits them between
    both budgets); taking them at their first choice drains one budget and strands the
    households that have no other option.
    """
    small, full, best = market.profits(market.costs(prices.budget, prices.quota))
    whole = full > small
    margin = np.where(whole, full / market.full_fen, small / market.small_fen)
    positive = np.flatnonzero(best > 0)
    positive = positive[np.argsort(-margin[positive], kind="stable")]
    top = market.class_top(best)
    tied = (best > 0) & (best >= (1 - _TIED) * top)
    torn = np.zeros(len(market.class_start), dtype=np.bool_)
    np.logical_or.at(torn, market.class_of, tied & (best < top))
    leaders = market.leaders(best)
    firm = leaders[~torn[market.class_of[leaders]]]
    firm = firm[np.argsort(-margin[firm], kind="stable")]
    ledger = Ledger(problem, pairs)
    for target in targets:
        serve_quota(ledger, target, rank_of(market.pair[firm], len(pairs.household)))
    served = np.zeros(len(market.class_start), dtype=np.bool_)
    _take(ledger, market, firm, whole, served)
    _share_out(
        ledger, market, positive[tied[positive] & torn[market.class_of[positive]]], whole, served
    )
    _take(ledger, market, positive, whole, served)
    fill_by_density(ledger, pairs)
    return ledger.assignment()


def _take(
    ledger: Ledger, market: Market, positions: IntArray, whole: BoolArray, served: BoolArray
) -> None:
    """Grant each position in turn (the full amount where ``whole``), one per class."""
    for position in positions.tolist():
        group = market.class_of[position]
        if served[group]:
            continue
        i = int(market.pair[position])
        if ledger.grant(i) or ledger.granted[i]:
            served[group] = True
            if whole[position]:
                ledger.top_up(i, ledger.max_steps[i])


def _share_out(
    ledger: Ledger, market: Market, options: IntArray, whole: BoolArray, served: BoolArray
) -> None:
    """Give each torn class the tied option whose programme has the largest share of its
    budget left, class by class in the order of their best option."""
    budget = np.maximum(market.budget, 1.0)
    for group, positions in _by_class(market, options):
        if served[group]:
            continue
        left = [
            ledger.remaining[int(market.programme[p])] / budget[market.programme[p]]
            for p in positions
        ]
        for position in [positions[k] for k in np.argsort(left)[::-1]]:
            i = int(market.pair[position])
            if ledger.grant(i):
                served[group] = True
                if whole[position]:
                    ledger.top_up(i, ledger.max_steps[i])
                break


def _by_class(market: Market, options: IntArray) -> list[tuple[int, list[int]]]:
    """``options`` grouped by class, classes in order of their first option in ``options``."""
    groups: dict[int, list[int]] = {}
    for position in options.tolist():
        groups.setdefault(int(market.class_of[position]), []).append(position)
    return list(groups.items())


def _coordinate_sweep(market: Market, budget: FloatArray, quota: FloatArray) -> None:
    """Move each price, in turn, to the minimiser of L along it (in place)."""
    for p in range(len(budget)):
        alternative = market.alternatives(market.profits(market.costs(budget, quota))[2])
        positions = market.by_programme[p]
        shift = budget[p] - market.costs(budget, quota)[positions]  # cost = λ − shift
        first, first_drop, second, second_drop = _demand_steps(market, positions, alternative)
        at = np.concatenate([first + shift, second + shift])
        drops = np.concatenate([first_drop, second_drop])
        budget[p] = _lowest_price_within(at, drops, float(market.budget[p]))
    for q in range(len(quota)):
        alternative = market.alternatives(market.profits(market.costs(budget, quota))[2])
        positions = market.quota_positions[q]
        base = market.costs(budget, quota)[positions] + quota[q]  # cost = base − μ
        first, first_drop, second, second_drop = _demand_steps(market, positions, alternative)
        at = np.concatenate([base - first, base - second])
        gains = np.concatenate([first_drop, second_drop])
        quota[q] = _lowest_price_reaching(at, gains, float(market.required[q]))


def _demand_steps(
    market: Market, positions: IntArray, alternative: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Each position's demand as a step function of its cost per fen: at the first cost it
    drops by the first amount, at the second by the second.

    Demand is the full grant while that is best, then the minimum grant while that beats the
    class's alternative, then nothing (or straight from full to nothing).
    """
    small_fen, full_fen = market.small_fen[positions], market.full_fen[positions]
    small, full = market.small_value[positions], market.full_value[positions]
    other = alternative[positions]
    ladder = full_fen > small_fen
    safe_span = np.where(ladder, full_fen - small_fen, 1.0)
    full_over_small = np.where(ladder, (full - small) / safe_span, -np.inf)
    small_over_other = (small - other) / small_fen
    full_over_other = (full - other) / full_fen
    tiered = full_over_small <= full_over_other  # the minimum grant is best for a while
    first = np.where(tiered, full_over_small, full_over_other)
    first_drop = np.where(tiered, full_fen - small_fen, full_fen)
    second = np.where(tiered, small_over_other, np.inf)
    second_drop = np.where(tiered, small_fen, 0.0)
    return first, first_drop, second, second_drop


def _lowest_price_within(at: FloatArray, drop: FloatArray, supply: float) -> float:
    """Smallest price t ≥ 0 with Σ drop[at > t] ≤ supply: demand falls by drop at price at."""
    pending = np.flatnonzero(at > 0)
    demand = float(drop[pending].sum())
    if demand <= supply:
        return 0.0
    order = pending[np.argsort(at[pending], kind="stable")]
    left = demand - np.cumsum(drop[order])
    hit = int(np.searchsorted(-left, -supply, side="left"))
    return float(at[order[min(hit, len(order) - 1)]])


def _lowest_price_reaching(at: FloatArray, gain: FloatArray, required: float) -> float:
    """Smallest price t ≥ 0 with Σ gain[at ≤ t] ≥ required: demand rises by gain at price at."""
    reached = float(gain[at <= 0].sum())
    if reached >= required:
        return 0.0
    later = np.flatnonzero((at > 0) & np.isfinite(at))
    if len(later) == 0:
        return 0.0
    order = later[np.argsort(at[later], kind="stable")]
    hit = int(np.searchsorted(reached + np.cumsum(gain[order]), required, side="left"))
    return float(at[order[min(hit, len(order) - 1)]])
