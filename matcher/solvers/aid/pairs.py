"""Eligible household–programme pairs as numpy arrays, with need, value and quota targets.

Everything downstream (greedy, CP-SAT model, explanations) works on these arrays, never on a
households × programmes Python loop: at 50,000 × 20 there can be a million pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from matcher.solvers.aid.problem import CAUSES, AidProblem, AidProgramme, HouseholdStatus

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

STATUS_ORDER: tuple[HouseholdStatus, ...] = tuple(HouseholdStatus)
ALL_CAUSES = (1 << len(CAUSES)) - 1
_CAUSE_BIT = {cause: 1 << i for i, cause in enumerate(CAUSES)}
_POPCOUNT = np.array([bin(mask).count("1") for mask in range(ALL_CAUSES + 1)], dtype=np.int64)


def cause_mask(causes: frozenset[str]) -> int:
    return sum(_CAUSE_BIT[c] for c in causes)


def causes_of(mask: int) -> frozenset[str]:
    return frozenset(c for c, bit in _CAUSE_BIT.items() if mask & bit)


@dataclass(frozen=True)
class ProgrammeTable:
    """Per-programme numbers as arrays, indexed like ``problem.programmes``."""

    budget_fen: IntArray
    min_fen: IntArray
    step_fen: IntArray
    steps: IntArray
    value_base: IntArray
    value_step: IntArray

    @classmethod
    def of(cls, programmes: tuple[AidProgramme, ...]) -> ProgrammeTable:
        def column(name: str) -> IntArray:
            return np.array([getattr(p, name) for p in programmes], dtype=np.int64)

        return cls(
            budget_fen=column("budget_fen"),
            min_fen=column("min_fen"),
            step_fen=column("step"),
            steps=column("steps"),
            value_base=column("value_base"),
            value_step=column("value_step"),
        )


@dataclass(frozen=True)
class Pairs:
    """Eligible pairs, sorted by household then programme.

    ``max_steps`` is how many top-up steps the pair can take within its programme's budget and
    the household cap; negative when even the minimum grant does not fit (not grantable).
    """

    household: IntArray
    programme: IntArray
    need: IntArray
    matched: IntArray  # bitmask over CAUSES
    max_steps: IntArray
    household_need: IntArray  # per household, against a programme addressing every cause
    table: ProgrammeTable

    @property
    def grantable(self) -> BoolArray:
        return self.max_steps >= 0

    @property
    def min_fen(self) -> IntArray:
        return self.table.min_fen[self.programme]

    @property
    def step_fen(self) -> IntArray:
        return self.table.step_fen[self.programme]

    @property
    def value_base(self) -> IntArray:
        """Value of the minimum grant of each pair."""
        return self.need * self.table.value_base[self.programme]

    @property
    def value_step(self) -> IntArray:
        """Value of one top-up step of each pair."""
        return self.need * self.table.value_step[self.programme]


def eligible(problem: AidProblem) -> BoolArray:
    """Hard: a household may receive a programme only if the programme serves its status,
    covers its village (region prefix) and addresses at least one of its causes (a programme
    with no causes addresses all). Returns the households × programmes matrix.
    """
    households = problem.households
    status = np.array([STATUS_ORDER.index(h.status) for h in households], dtype=np.int64)
    causes = np.array([cause_mask(h.causes) for h in households], dtype=np.int64)
    villages = np.array([h.village_code for h in households], dtype="U12")
    matrix = np.zeros((len(households), len(problem.programmes)), dtype=np.bool_)
    for j, programme in enumerate(problem.programmes):
        statuses = sum(1 << STATUS_ORDER.index(s) for s in programme.statuses)
        column = ((statuses >> status) & 1).astype(np.bool_)
        if programme.causes:
            column &= (causes & cause_mask(programme.causes)) != 0
        if programme.region_prefix:
            column &= np.strings.startswith(villages, programme.region_prefix)
        matrix[:, j] = column
    _drop_held(problem, matrix)
    return matrix


def _drop_held(problem: AidProblem, matrix: BoolArray) -> None:
    """Hard: one grant per programme per household across runs — a pair granted before is
    not eligible again."""
    if not problem.held:
        return
    rows = {h.id: i for i, h in enumerate(problem.households)}
    columns = {p.id: j for j, p in enumerate(problem.programmes)}
    for household_id, programme_id in problem.held:
        i, j = rows.get(household_id), columns.get(programme_id)
        if i is not None and j is not None:
            matrix[i, j] = False


def eligible_pairs(problem: AidProblem) -> Pairs:
    """The eligible pairs with need, matched causes and room for top-ups."""
    table = ProgrammeTable.of(problem.programmes)
    household, programme = (a.astype(np.int64) for a in np.nonzero(eligible(problem)))
    scores = np.array([h.score for h in problem.households], dtype=np.int64)
    causes = np.array([cause_mask(h.causes) for h in problem.households], dtype=np.int64)
    addressed = np.array(
        [cause_mask(p.causes) or ALL_CAUSES for p in problem.programmes], dtype=np.int64
    )
    matched = causes[household] & addressed[programme]
    config = problem.need
    need = (
        config.base_weight * (100 - scores[household])
        + config.per_cause_weight * _POPCOUNT[matched]
    )
    household_need = (
        config.base_weight * (100 - scores) + config.per_cause_weight * _POPCOUNT[causes]
    )
    # Top-up room: the range, the programme's budget and the household cap all bound it.
    room = table.budget_fen[programme] - table.min_fen[programme]
    if problem.household_cap_fen is not None:
        room = np.minimum(room, problem.household_cap_fen - table.min_fen[programme])
    max_steps = np.minimum(table.steps[programme], room // table.step_fen[programme])
    return Pairs(household, programme, need, matched, max_steps, household_need, table)


@dataclass(frozen=True)
class QuotaTarget:
    """A quota resolved to the pairs it counts and the fen they must receive together."""

    programme: int
    members: IntArray  # grantable pair indices in the quota's region
    required_fen: int


def quota_targets(problem: AidProblem, pairs: Pairs) -> tuple[QuotaTarget, ...]:
    """Each quota's requirement: its share of the budget, capped by what the region can take."""
    index = {p.id: j for j, p in enumerate(problem.programmes)}
    villages = np.array([h.village_code for h in problem.households], dtype="U12")
    targets = []
    for quota in problem.quotas:
        j = index[quota.programme_id]
        in_region = np.strings.startswith(villages, quota.region_prefix)[pairs.household]
        members = np.flatnonzero((pairs.programme == j) & in_region & pairs.grantable)
        largest = pairs.min_fen[members] + pairs.max_steps[members] * pairs.step_fen[members]
        share = -(-quota.min_share_permille * int(pairs.table.budget_fen[j]) // 1000)
        targets.append(QuotaTarget(j, members, min(share, int(largest.sum()))))
    return tuple(targets)


def dantzig_bound(pairs: Pairs) -> int:
    """An upper bound on total value: each programme's fractional knapsack, ignoring caps,
    exclusivity and quotas. Used when CP-SAT stops before proving a better one.
    """
    bound = 0.0
    for j in range(len(pairs.table.budget_fen)):
        mine = np.flatnonzero((pairs.programme == j) & pairs.grantable)
        tops = mine[pairs.max_steps[mine] > 0]
        # Items: minimum grants, then each pair's whole top-up ladder (divisible in the LP).
        size = np.concatenate(
            [pairs.min_fen[mine], pairs.max_steps[tops] * pairs.step_fen[tops]]
        ).astype(np.float64)
        value = np.concatenate(
            [pairs.value_base[mine], pairs.max_steps[tops] * pairs.value_step[tops]]
        ).astype(np.float64)
        order = np.argsort(-value / size, kind="stable")
        size, value = size[order], value[order]
        filled = np.cumsum(size)
        whole = filled <= pairs.table.budget_fen[j]
        bound += value[whole].sum()
        rest = np.flatnonzero(~whole)
        if rest.size:
            k = rest[0]
            left = pairs.table.budget_fen[j] - (filled[k] - size[k])
            bound += value[k] * left / size[k]
    return int(np.ceil(bound))  # round up: a bound must never undercut the optimum
