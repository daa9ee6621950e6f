"""Greedy allocations: CP-SAT hints, fallbacks when CP-SAT finds nothing, and the baseline.

``greedy_assignment`` is the rule an office would apply by hand and the baseline we report:
households in order of need (descending) each take their eligible programmes, best value per fen
first, while the budget, the household cap and exclusivity allow; leftover budget then tops up
ranged grants in the same order.

``density_assignment`` orders minimum grants and top-up ladders together by value per fen, the
order of a single knapsack's LP relaxation: on the demo data about 0.5% below the bound at
5,000 × 10 (the need-first rule: 2%), but 3% at 50,000 × 20, where exclusive groups tie many
programmes together (the need-first rule: 5%); ``matcher.solvers.aid.prices`` does better there.

Both serve quotas first, from their regions, in their own order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.solvers.aid.pairs import BoolArray, IntArray, Pairs, QuotaTarget
from matcher.solvers.aid.problem import AidProblem


@dataclass(frozen=True)
class Assignment:
    """A candidate solution: which pairs are granted and with how many top-up steps."""

    granted: BoolArray
    steps: IntArray

    def amounts(self, pairs: Pairs) -> IntArray:
        amounts: IntArray = np.where(self.granted, pairs.min_fen + self.steps * pairs.step_fen, 0)
        return amounts

    def value(self, pairs: Pairs) -> int:
        values = pairs.value_base + self.steps * pairs.value_step
        return int(values[self.granted].sum())

    def meets(self, targets: tuple[QuotaTarget, ...], pairs: Pairs) -> bool:
        """Whether every quota gets its required amount."""
        amounts = self.amounts(pairs)
        return all(int(amounts[t.members].sum()) >= t.required_fen for t in targets)


def greedy_order(pairs: Pairs) -> IntArray:
    """Grantable pairs by household need (descending), then by value per fen (descending)."""
    density = pairs.value_base / pairs.min_fen
    order = np.lexsort((-density, pairs.household, -pairs.household_need[pairs.household]))
    ranked: IntArray = order[pairs.grantable[order]]
    return ranked


class Ledger:
    """Budgets, household totals and exclusive groups in use while the greedy runs.

    Plain Python lists rather than numpy: the loop touches one element at a time, where list
    indexing is several times faster than numpy scalar access.
    """

    def __init__(self, problem: AidProblem, pairs: Pairs) -> None:
        group_of = [0] * len(problem.programmes)
        index = {p.id: j for j, p in enumerate(problem.programmes)}
        for g, group in enumerate(problem.exclusive_groups):
            for programme_id in group:
                group_of[index[programme_id]] |= 1 << g
        self.groups: list[int] = [group_of[j] for j in pairs.programme.tolist()]
        self.household: list[int] = pairs.household.tolist()
        self.programme: list[int] = pairs.programme.tolist()
        self.min_fen: list[int] = pairs.min_fen.tolist()
        self.step_fen: list[int] = pairs.step_fen.tolist()
        self.max_steps: list[int] = pairs.max_steps.tolist()
        self.remaining: list[int] = pairs.table.budget_fen.tolist()
        cap = problem.household_cap_fen
        self.cap = cap if cap is not None else sum(self.remaining) + 1
        self.spent = [0] * len(problem.households)
        self.groups_used = [0] * len(problem.households)
        self.granted = [False] * len(self.household)
        self.steps = [0] * len(self.household)

    def grant(self, i: int) -> int:
        """Grant pair ``i`` its minimum if everything allows; returns the fen granted."""
        h, j, amount = self.household[i], self.programme[i], self.min_fen[i]
        if self.granted[i] or amount > self.remaining[j] or self.spent[h] + amount > self.cap:
            return 0
        if self.groups_used[h] & self.groups[i]:
            return 0
        self.granted[i] = True
        self.remaining[j] -= amount
        self.spent[h] += amount
        self.groups_used[h] |= self.groups[i]
        return amount

    def amount(self, i: int) -> int:
        """Fen granted to pair ``i`` so far."""
        return self.min_fen[i] + self.steps[i] * self.step_fen[i] if self.granted[i] else 0

    def top_up(self, i: int, wanted_steps: int) -> int:
        """Add up to ``wanted_steps`` steps to granted pair ``i``; returns the fen added."""
        if not self.granted[i]:
            return 0
        h, j, step = self.household[i], self.programme[i], self.step_fen[i]
        room = min(self.remaining[j], self.cap - self.spent[h]) // step
        add = max(0, min(wanted_steps, self.max_steps[i] - self.steps[i], room))
        self.steps[i] += add
        self.remaining[j] -= add * step
        self.spent[h] += add * step
        return add * step

    def assignment(self) -> Assignment:
        return Assignment(np.array(self.granted, dtype=np.bool_), np.array(self.steps, np.int64))


def serve_quota(ledger: Ledger, target: QuotaTarget, rank: IntArray) -> None:
    """Grant minimums in the quota's region in greedy order, then top up, until it is met."""
    members = target.members[np.argsort(rank[target.members], kind="stable")].tolist()
    short = target.required_fen - sum(ledger.amount(i) for i in members)
    for i in members:
        if short <= 0:
            return
        short -= ledger.grant(i)
    for i in members:
        if short <= 0:
            return
        short -= ledger.top_up(i, -(-short // ledger.step_fen[i]))


def greedy_assignment(
    problem: AidProblem, pairs: Pairs, targets: tuple[QuotaTarget, ...]
) -> Assignment:
    """The need-first greedy; it may miss a quota (check with ``Assignment.meets``)."""
    order = greedy_order(pairs)
    ledger = Ledger(problem, pairs)
    for target in targets:
        serve_quota(ledger, target, rank_of(order, len(pairs.household)))
    ordered = order.tolist()
    for i in ordered:
        ledger.grant(i)
    for i in ordered:
        if ledger.max_steps[i] > 0:
            ledger.top_up(i, ledger.max_steps[i])
    return ledger.assignment()


def density_assignment(
    problem: AidProblem, pairs: Pairs, targets: tuple[QuotaTarget, ...]
) -> Assignment:
    """Minimum grants and whole top-up ladders by value per fen; may miss a quota too."""
    ledger = Ledger(problem, pairs)
    grantable = np.flatnonzero(pairs.grantable)
    density = pairs.value_base[grantable] / pairs.min_fen[grantable]
    base_order = grantable[np.argsort(-density, kind="stable")]
    for target in targets:
        serve_quota(ledger, target, rank_of(base_order, len(pairs.household)))
    fill_by_density(ledger, pairs)
    return ledger.assignment()


def fill_by_density(ledger: Ledger, pairs: Pairs) -> None:
    """Grant minimums and top-up ladders in order of value per fen while anything fits."""
    grantable = np.flatnonzero(pairs.grantable)
    ladders = grantable[pairs.max_steps[grantable] > 0]
    base_density = pairs.value_base[grantable] / pairs.min_fen[grantable]
    ladder_density = pairs.value_step[ladders] / pairs.step_fen[ladders]
    # Concave values make a pair's ladder less dense than its minimum, so it comes later.
    items = np.concatenate([grantable, ladders])
    is_ladder = np.arange(len(items)) >= len(grantable)
    order = np.argsort(-np.concatenate([base_density, ladder_density]), kind="stable")
    for i, ladder in zip(items[order].tolist(), is_ladder[order].tolist(), strict=True):
        if ladder:
            ledger.top_up(i, ledger.max_steps[i])
        else:
            ledger.grant(i)


def rank_of(order: IntArray, size: int) -> IntArray:
    """Position of each pair in ``order`` (pairs not in it rank last)."""
    rank = np.full(size, size, dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank
