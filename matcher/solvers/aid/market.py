"""The aid problem as a market: grantable pairs grouped into classes, priced per fen of budget.

Price each programme's budget at λ ≥ 0 per fen and each quota at μ ≥ 0 per fen its region
receives, and drop the household cap. What remains splits by household and, within one, by
*class* (an exclusive group, or a lone pair): each class takes its most profitable option, with
profit = value − (λ − Σμ) × amount over the options none, minimum grant, full grant (profit is
linear in the top-up steps, so no amount in between is ever better). For any prices

    L(λ, μ) = Σ λ·budget − Σ μ·required + Σ over classes of the best profit

is an upper bound on the optimum (Lagrangian relaxation). ``matcher.solvers.aid.prices`` searches
for
prices that make it small; this module evaluates L and what the classes would take.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from matcher.solvers.aid.pairs import BoolArray, IntArray, Pairs, QuotaTarget
from matcher.solvers.aid.problem import AidProblem

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Market:
    """The grantable pairs sorted by class ("positions"), with the two grants each can take."""

    pair: IntArray  # pair index of each position
    class_of: IntArray  # class of each position, non-decreasing
    class_start: IntArray  # first position of each class
    programme: IntArray
    small_fen: FloatArray
    small_value: FloatArray
    full_fen: FloatArray
    full_value: FloatArray
    budget: FloatArray
    by_programme: tuple[IntArray, ...]  # positions of each programme
    quota_positions: tuple[IntArray, ...]  # positions each quota counts
    required: FloatArray

    @classmethod
    def of(cls, problem: AidProblem, pairs: Pairs, targets: tuple[QuotaTarget, ...]) -> Market:
        keys = class_keys(problem, pairs)
        grantable = np.flatnonzero(pairs.grantable)
        pair = grantable[np.argsort(keys[grantable], kind="stable")]
        new_class = _run_starts(keys[pair])
        position = np.full(len(pairs.household), -1, dtype=np.int64)
        position[pair] = np.arange(len(pair))
        top = pairs.max_steps[pair]
        full_fen = pairs.min_fen[pair] + top * pairs.step_fen[pair]
        programme = pairs.programme[pair]
        return cls(
            pair=pair,
            class_of=np.cumsum(new_class) - 1,
            class_start=np.flatnonzero(new_class),
            programme=programme,
            small_fen=pairs.min_fen[pair].astype(np.float64),
            small_value=pairs.value_base[pair].astype(np.float64),
            full_fen=full_fen.astype(np.float64),
            full_value=(pairs.value_base[pair] + top * pairs.value_step[pair]).astype(np.float64),
            budget=pairs.table.budget_fen.astype(np.float64),
            by_programme=tuple(
                np.flatnonzero(programme == j) for j in range(len(problem.programmes))
            ),
            quota_positions=tuple(position[t.members] for t in targets),
            required=np.array([t.required_fen for t in targets], dtype=np.float64),
        )

    def costs(self, budget: FloatArray, quota: FloatArray) -> FloatArray:
        """Price per fen each position pays: its budget's, less the quotas it counts for."""
        cost = budget[self.programme].copy()
        for q, positions in enumerate(self.quota_positions):
            cost[positions] -= quota[q]
        return cost

    def profits(self, cost: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Profit of the minimum grant, of the full grant, and of the best option (≥ 0)."""
        small = self.small_value - cost * self.small_fen
        full = self.full_value - cost * self.full_fen
        return small, full, np.maximum(0.0, np.maximum(small, full))

    def class_top(self, best: FloatArray) -> FloatArray:
        """Each position's class's best profit."""
        if len(best) == 0:
            return best
        top: FloatArray = np.maximum.reduceat(best, self.class_start)[self.class_of]
        return top

    def alternatives(self, best: FloatArray) -> FloatArray:
        """For each position, the best profit its class makes without it (0: take nothing)."""
        if len(best) == 0:
            return best
        top = self.class_top(best)
        on_top = best == top
        ties = np.add.reduceat(on_top.astype(np.int64), self.class_start)[self.class_of]
        # A sole leader's alternative is its class's second best; everyone else's is the top.
        second = self.class_top(np.where(on_top, 0.0, best))
        alternative: FloatArray = np.where(on_top & (ties == 1), second, top)
        return alternative

    def leaders(self, best: FloatArray) -> IntArray:
        """The position each class takes (the first of equals), for classes with a profit."""
        chosen = np.flatnonzero((best == self.class_top(best)) & (best > 0))
        leaders: IntArray = chosen[_run_starts(self.class_of[chosen])]
        return leaders


@dataclass(frozen=True)
class Evaluation:
    """L at some prices, and what the classes would take there (a subgradient of L)."""

    value: float
    spend: FloatArray  # fen each programme would pay out
    received: FloatArray  # fen each quota's region would receive


def evaluate(market: Market, budget: FloatArray, quota: FloatArray) -> Evaluation:
    """L(λ, μ) and the classes' demand at those prices."""
    small, full, best = market.profits(market.costs(budget, quota))
    leaders = market.leaders(best)
    amount = np.zeros(len(best))
    amount[leaders] = np.where(full > small, market.full_fen, market.small_fen)[leaders]
    spend = np.zeros(len(market.budget))
    np.add.at(spend, market.programme, amount)
    received = np.array([amount[positions].sum() for positions in market.quota_positions])
    value = float(budget @ market.budget - quota @ market.required + best[leaders].sum())
    return Evaluation(value, spend, received.reshape(len(market.required)))


def class_keys(problem: AidProblem, pairs: Pairs) -> IntArray:
    """Pairs share a class when one household holds them in the same exclusive group.

    A programme in several groups is classed by its first; dropping its other groups only
    relaxes the problem, so L stays an upper bound.
    """
    index = {p.id: j for j, p in enumerate(problem.programmes)}
    kinds = len(problem.programmes) + len(problem.exclusive_groups)
    kind = np.arange(len(problem.programmes), dtype=np.int64) + len(problem.exclusive_groups)
    for g, group in reversed(list(enumerate(problem.exclusive_groups))):
        kind[[index[i] for i in group]] = g
    keys: IntArray = pairs.household * kinds + kind[pairs.programme]
    return keys


def _run_starts(sorted_keys: IntArray) -> BoolArray:
    """Where each run of equal values begins."""
    starts = np.ones(len(sorted_keys), dtype=np.bool_)
    starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return starts
