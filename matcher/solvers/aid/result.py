"""The result of an aid solve (grants with their value, explanations, budgets) and how an
assignment becomes one."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from matcher.solvers.aid.greedy import Assignment
from matcher.solvers.aid.pairs import BoolArray, IntArray, Pairs, causes_of
from matcher.solvers.aid.problem import AidObjective, AidProblem
from matcher.solvers.common.solving import SolveStatus, Timings, relative_gap


class LeftOutReason(enum.Enum):
    """Why an eligible household did not get a programme, checked in this order.

    The three budget reasons say where the budget went, each only when it is so: every grant
    of the programme to a household with at least this one's need; or, a grant to a household
    of lesser need inside a regional quota this household is outside of; or else what is left
    cannot pay the grant (spent on grants worth more together, some to lesser need; or too small
    from the start).
    """

    EXCLUDED_BY_RULE = "EXCLUDED_BY_RULE"  # holds another programme of an exclusive group
    CAP_REACHED = "CAP_REACHED"  # the minimum grant would pass the per-household cap
    BUDGET_EXHAUSTED_BY_HIGHER_NEED = "BUDGET_EXHAUSTED_BY_HIGHER_NEED"  # to greater need only
    NOT_SELECTED = "NOT_SELECTED"  # room was left: the solve stopped early, or need is zero
    REGIONAL_QUOTA = "REGIONAL_QUOTA"  # a region's quota took it, to one of lesser need
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"  # what is left cannot pay it (neither reason above)


@dataclass(frozen=True)
class Grant:
    """One allocation with its value breakdown."""

    household_id: str
    programme_id: str
    amount_fen: int
    need: int
    value: int
    causes_matched: frozenset[str]


@dataclass(frozen=True)
class LeftOut:
    """An eligible household–programme pair that got no grant, and why."""

    household_id: str
    programme_id: str
    reason: LeftOutReason


@dataclass(frozen=True)
class ProgrammeUsage:
    programme_id: str
    spent_fen: int
    remaining_fen: int
    grants: int


@dataclass(frozen=True)
class AidResult:
    """Outcome of a solve; ``objective`` and ``bound`` in value units (``problem``).

    Under REACH_FIRST they are the need phase's, with the household count fixed at
    ``households_helped``.
    """

    status: SolveStatus
    objective: int
    bound: int
    gap: float
    timings: Timings
    grants: tuple[Grant, ...]
    left_out: tuple[LeftOut, ...]
    programmes: tuple[ProgrammeUsage, ...]
    households_helped: int


def build_result(
    problem: AidProblem,
    pairs: Pairs,
    assignment: Assignment,
    *,
    status: SolveStatus,
    bound: int,
    timings: Timings,
) -> AidResult:
    """The result of ``assignment``; its objective is recomputed from the pairs, not trusted
    from the solver, so greedy and CP-SAT results are measured the same way. A FEASIBLE
    solution that meets the bound is OPTIMAL under NEED (under REACH_FIRST the bound speaks
    of value only, not of the households reached first)."""
    objective = assignment.value(pairs)
    bound = max(bound, objective)  # a proven bound is never below a found solution
    proven = objective == bound and problem.objective is AidObjective.NEED
    if status is SolveStatus.FEASIBLE and proven:
        status = SolveStatus.OPTIMAL
    return AidResult(
        status=status,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        timings=timings,
        grants=_grants(problem, pairs, assignment),
        left_out=_left_out(problem, pairs, assignment),
        programmes=_usage(problem, pairs, assignment),
        households_helped=len(np.unique(pairs.household[assignment.granted])),
    )


def empty_result(status: SolveStatus, bound: int, timings: Timings) -> AidResult:
    """No solution (infeasible, or nothing found in time)."""
    return AidResult(status, 0, bound, relative_gap(0, bound), timings, (), (), (), 0)


def _grants(problem: AidProblem, pairs: Pairs, assignment: Assignment) -> tuple[Grant, ...]:
    chosen = np.flatnonzero(assignment.granted)
    amounts = assignment.amounts(pairs)[chosen].tolist()
    values = (pairs.value_base + assignment.steps * pairs.value_step)[chosen].tolist()
    households, programmes = problem.households, problem.programmes
    return tuple(
        Grant(households[h].id, programmes[j].id, amount, need, value, causes_of(matched))
        for h, j, amount, need, value, matched in zip(
            pairs.household[chosen].tolist(),
            pairs.programme[chosen].tolist(),
            amounts,
            pairs.need[chosen].tolist(),
            values,
            pairs.matched[chosen].tolist(),
            strict=True,
        )
    )


def _left_out(problem: AidProblem, pairs: Pairs, assignment: Assignment) -> tuple[LeftOut, ...]:
    """Each eligible pair without a grant, with the first reason that applies (LeftOutReason)."""
    order = list(LeftOutReason)
    reasons = np.full(len(pairs.household), order.index(LeftOutReason.NOT_SELECTED))
    amounts = assignment.amounts(pairs)
    remaining = pairs.table.budget_fen - _total(pairs.programme, amounts, len(problem.programmes))
    spent_out = remaining[pairs.programme] < pairs.min_fen
    reasons[spent_out] = order.index(LeftOutReason.BUDGET_EXHAUSTED)
    reasons[spent_out & _quota_took(problem, pairs, assignment.granted)] = order.index(
        LeftOutReason.REGIONAL_QUOTA
    )
    reasons[spent_out & _only_greater_need(problem, pairs, assignment.granted)] = order.index(
        LeftOutReason.BUDGET_EXHAUSTED_BY_HIGHER_NEED
    )
    if problem.household_cap_fen is not None:
        spent = _total(pairs.household, amounts, len(problem.households))
        capped = spent[pairs.household] + pairs.min_fen > problem.household_cap_fen
        reasons[capped] = order.index(LeftOutReason.CAP_REACHED)
    reasons[_excluded(problem, pairs, assignment.granted)] = order.index(
        LeftOutReason.EXCLUDED_BY_RULE
    )
    missing = np.flatnonzero(~assignment.granted)
    households, programmes = problem.households, problem.programmes
    return tuple(
        LeftOut(households[h].id, programmes[j].id, order[r])
        for h, j, r in zip(
            pairs.household[missing].tolist(),
            pairs.programme[missing].tolist(),
            reasons[missing].tolist(),
            strict=True,
        )
    )


def _only_greater_need(problem: AidProblem, pairs: Pairs, granted: BoolArray) -> BoolArray:
    """Pairs whose programme granted only households with at least the pair's need."""
    none = np.iinfo(np.int64).max  # a programme that granted nothing
    least = np.full(len(problem.programmes), none, dtype=np.int64)
    np.minimum.at(least, pairs.programme[granted], pairs.need[granted])
    floor = least[pairs.programme]
    return np.asarray((floor != none) & (floor >= pairs.need))


def _quota_took(problem: AidProblem, pairs: Pairs, granted: BoolArray) -> BoolArray:
    """Pairs outside a quota region of their programme that granted, inside the region, a
    household of lesser need than the pair's."""
    index = {p.id: j for j, p in enumerate(problem.programmes)}
    codes = np.array([h.village_code for h in problem.households])[pairs.household]
    took = np.zeros(len(pairs.household), dtype=np.bool_)
    for quota in problem.quotas:
        inside = np.char.startswith(codes, quota.region_prefix)
        ours = pairs.programme == index[quota.programme_id]
        favoured = pairs.need[ours & inside & granted]
        if favoured.size:
            took |= ours & ~inside & (pairs.need > favoured.min())
    return took


def _excluded(problem: AidProblem, pairs: Pairs, granted: BoolArray) -> BoolArray:
    """Pairs whose household holds another programme of an exclusive group they share."""
    index = {p.id: j for j, p in enumerate(problem.programmes)}
    excluded = np.zeros(len(pairs.household), dtype=np.bool_)
    for group in problem.exclusive_groups:
        in_group = np.isin(pairs.programme, [index[i] for i in group])
        holds = np.zeros(len(problem.households), dtype=np.bool_)
        holds[pairs.household[in_group & granted]] = True
        excluded |= in_group & ~granted & holds[pairs.household]
    return excluded


def _usage(problem: AidProblem, pairs: Pairs, assignment: Assignment) -> tuple[ProgrammeUsage, ...]:
    count = len(problem.programmes)
    spent = _total(pairs.programme, assignment.amounts(pairs), count)
    grants = np.bincount(pairs.programme[assignment.granted], minlength=count)
    return tuple(
        ProgrammeUsage(p.id, int(s), p.budget_fen - int(s), int(g))
        for p, s, g in zip(problem.programmes, spent, grants, strict=True)
    )


def _total(keys: IntArray, amounts: IntArray, size: int) -> IntArray:
    """Sum of ``amounts`` per key, in exact integers (np.bincount would go through float)."""
    total = np.zeros(size, dtype=np.int64)
    np.add.at(total, keys, amounts)
    return total
