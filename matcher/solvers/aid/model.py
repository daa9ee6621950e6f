"""The aid CP-SAT model: one Boolean per grantable pair, hard constraints, the objectives.

Variables (proto indices, in this order):

- ``x[c]``, one per column ``c`` (a grantable pair): the household gets the programme. One
  variable per pair is itself the rule "at most one grant per programme per household".
- ``k[t]``, one per column whose programme has a range: top-up steps above the minimum.
- ``y[r]``, one per household with a column, under REACH_FIRST only: the household is helped.

The model is written straight into the proto from numpy arrays (variables and constraint rows
parsed in bulk from text format). The ``CpModel.new_*`` / ``add`` API costs several
microseconds per object in Python; at a million pairs that alone would eat seconds of the
caller's time limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model
from ortools.sat.python.cp_model_helper import CpModelProto

from matcher.solvers.aid.greedy import Assignment
from matcher.solvers.aid.pairs import IntArray, Pairs, QuotaTarget
from matcher.solvers.aid.problem import AidObjective, AidProblem

_INT_MAX = 2**62  # an "unbounded" side of a linear constraint, well inside int64


@dataclass(frozen=True)
class AidModel:
    """A CP-SAT model over the grantable pairs and how its variables map back to them."""

    model: cp_model.CpModel
    pairs: Pairs
    columns: IntArray  # pair index of x[c]; x[c] is proto variable c
    top_up: IntArray  # columns that have a top-up variable; k[t] is variable len(columns) + t
    helped: IntArray  # household index of y[r] (REACH_FIRST); y[r] follows the k variables

    @property
    def proto(self) -> CpModelProto:
        return self.model.proto

    @property
    def k_base(self) -> int:
        return len(self.columns)

    @property
    def y_base(self) -> int:
        return len(self.columns) + len(self.top_up)

    def x_and_k(self, columns: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """Variables and fen coefficients of the amounts of ``columns``, as one flat list, and
        which column each entry belongs to."""
        position = np.full(len(self.columns), -1, dtype=np.int64)
        position[self.top_up] = self.k_base + np.arange(len(self.top_up))
        tops = columns[position[columns] >= 0]
        pair_of = self.columns
        variables = np.concatenate([columns, position[tops]])
        coeffs = np.concatenate(
            [self.pairs.min_fen[pair_of[columns]], self.pairs.step_fen[pair_of[tops]]]
        )
        return variables, coeffs, np.concatenate([columns, tops])


def build_model(problem: AidProblem, pairs: Pairs, targets: tuple[QuotaTarget, ...]) -> AidModel:
    """Variables, then the hard constraints in priority order."""
    columns = np.flatnonzero(pairs.grantable)
    top_up = np.flatnonzero(pairs.max_steps[columns] > 0)
    reach = problem.objective is AidObjective.REACH_FIRST
    helped = np.unique(pairs.household[columns]) if reach else np.empty(0, dtype=np.int64)
    aid = AidModel(cp_model.CpModel(), pairs, columns, top_up, helped)
    _declare(aid.proto, [1] * len(columns))
    _declare(aid.proto, pairs.max_steps[columns[top_up]].tolist())
    _declare(aid.proto, [1] * len(helped))
    add_top_up_link(aid)
    add_budgets(aid)
    add_household_cap(aid, problem.household_cap_fen)
    add_exclusive_groups(aid, problem)
    add_quotas(aid, targets)
    if reach:
        add_helped_indicators(aid)
    return aid


def add_top_up_link(aid: AidModel) -> None:
    """Hard: a ranged grant is topped up only if it is granted (k ≤ max_steps · x)."""
    upper = aid.pairs.max_steps[aid.columns[aid.top_up]]
    count = len(aid.top_up)
    variables = np.column_stack([aid.k_base + np.arange(count), aid.top_up]).ravel()
    coeffs = np.column_stack([np.ones(count, dtype=np.int64), -upper]).ravel()
    _linear_rows(aid.proto, np.arange(count) * 2, variables, coeffs, (-upper).tolist(), [0] * count)


def add_budgets(aid: AidModel) -> None:
    """Hard: the grants of a programme add up to at most its budget."""
    variables, coeffs, owner = aid.x_and_k(np.arange(len(aid.columns)))
    programme = aid.pairs.programme[aid.columns[owner]]
    order, starts, keys = _group(programme)
    budget = aid.pairs.table.budget_fen[keys].tolist()
    _linear_rows(aid.proto, starts, variables[order], coeffs[order], [0] * len(keys), budget)


def add_household_cap(aid: AidModel, cap: int | None) -> None:
    """Hard: the grants of one household add up to at most ``household_cap_fen``.

    Rows are added only for households that could pass the cap at all.
    """
    if cap is None:
        return
    variables, coeffs, owner = aid.x_and_k(np.arange(len(aid.columns)))
    household = aid.pairs.household[aid.columns[owner]]
    largest = coeffs * np.where(variables >= aid.k_base, aid.pairs.max_steps[aid.columns[owner]], 1)
    at_risk = np.bincount(household, weights=largest) > cap
    keep = np.flatnonzero(at_risk[household])
    order, starts, keys = _group(household[keep])
    picked = keep[order]
    count = len(keys)
    _linear_rows(aid.proto, starts, variables[picked], coeffs[picked], [0] * count, [cap] * count)


def add_exclusive_groups(aid: AidModel, problem: AidProblem) -> None:
    """Hard: a household gets at most one programme of each exclusive group."""
    index = {p.id: j for j, p in enumerate(problem.programmes)}
    programme = aid.pairs.programme[aid.columns]
    household = aid.pairs.household[aid.columns]  # sorted: pairs come household by household
    for group in problem.exclusive_groups:
        members = np.flatnonzero(np.isin(programme, [index[i] for i in group]))
        starts = _starts(household[members])
        sizes = np.diff(np.append(starts, len(members)))
        members = members[np.repeat(sizes >= 2, sizes)]  # a lone pair needs no row
        _at_most_one_rows(aid.proto, _starts(household[members]), members)


def add_quotas(aid: AidModel, targets: tuple[QuotaTarget, ...]) -> None:
    """Hard: a quota's region receives at least its required share of the programme's budget."""
    column_of = np.full(len(aid.pairs.household), -1, dtype=np.int64)
    column_of[aid.columns] = np.arange(len(aid.columns))
    for target in targets:
        if target.required_fen > 0:
            variables, coeffs, _ = aid.x_and_k(column_of[target.members])
            one_row = np.zeros(1, np.int64)
            _linear_rows(aid.proto, one_row, variables, coeffs, [target.required_fen], [_INT_MAX])


def add_helped_indicators(aid: AidModel) -> None:
    """Hard: a household counts as helped only if it gets at least one grant (y ≤ Σ x)."""
    starts = _starts(aid.pairs.household[aid.columns])  # one row per helped household
    count = len(starts)
    sizes = np.diff(np.append(starts, len(aid.columns)))
    # Row r is y[r] followed by the x of that household's columns, coefficients +1 and -1.
    variables = np.insert(np.arange(len(aid.columns)), starts, aid.y_base + np.arange(count))
    coeffs = np.insert(-np.ones(len(aid.columns), np.int64), starts, 1)
    _linear_rows(
        aid.proto, starts + np.arange(count), variables, coeffs, (-sizes).tolist(), [0] * count
    )


def maximise_need(aid: AidModel) -> None:
    """Soft: maximise the need-weighted value of all grants (the module doc of ``problem``)."""
    pairs = aid.pairs
    x = pairs.value_base[aid.columns]
    k = pairs.value_step[aid.columns[aid.top_up]]
    _maximise(aid, np.arange(aid.y_base), np.concatenate([x, k]))


def maximise_reach(aid: AidModel) -> None:
    """Soft (first under REACH_FIRST): maximise the number of distinct households helped."""
    _maximise(aid, aid.y_base + np.arange(len(aid.helped)), np.ones(len(aid.helped), np.int64))


def require_reach(aid: AidModel, households: int) -> None:
    """Hard (second phase of REACH_FIRST): keep at least the reach the first phase found."""
    variables = aid.y_base + np.arange(len(aid.helped))
    ones = np.ones(len(aid.helped), np.int64)
    _linear_rows(aid.proto, np.zeros(1, np.int64), variables, ones, [households], [_INT_MAX])


def hint(aid: AidModel, values: IntArray) -> None:
    """Start the search from a known solution (all variables, in proto order)."""
    proto = aid.proto
    proto.clear_solution_hint()
    proto.solution_hint.vars.extend(range(len(values)))
    proto.solution_hint.values.extend(values.tolist())


def values_of(aid: AidModel, assignment: Assignment) -> IntArray:
    """The proto variable values that encode ``assignment``."""
    x = assignment.granted[aid.columns].astype(np.int64)
    k = assignment.steps[aid.columns[aid.top_up]]
    helped = np.zeros(len(aid.pairs.household_need), dtype=np.bool_)
    helped[aid.pairs.household[assignment.granted]] = True
    values: IntArray = np.concatenate([x, k, helped[aid.helped].astype(np.int64)])
    return values


def assignment_of(aid: AidModel, values: IntArray) -> Assignment:
    """Decode proto variable values into per-pair grants and steps."""
    size = len(aid.pairs.household)
    granted = np.zeros(size, dtype=np.bool_)
    steps = np.zeros(size, dtype=np.int64)
    granted[aid.columns] = values[: aid.k_base] == 1
    steps[aid.columns[aid.top_up]] = values[aid.k_base : aid.y_base]
    return Assignment(granted, np.where(granted, steps, 0))


def _maximise(aid: AidModel, variables: IntArray, coeffs: IntArray) -> None:
    # CP-SAT stores a maximisation as the minimisation of the negation, scaled by -1.
    aid.proto.clear_objective()
    objective = aid.proto.objective
    objective.vars.extend(variables.tolist())
    objective.coeffs.extend((-coeffs).tolist())
    objective.scaling_factor = -1


def _declare(proto: CpModelProto, uppers: list[int]) -> None:
    """Add integer variables with domains [0, upper], in one text-format parse."""
    text = {u: f"variables{{domain:[0,{u}]}}" for u in set(uppers)}
    proto.merge_text_format("".join(map(text.__getitem__, uppers)))


def _group(keys: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Stable order that groups equal keys, each group's start in that order, and its key."""
    order = np.argsort(keys, kind="stable")
    starts = _starts(keys[order])
    return order, starts, keys[order][starts]


def _starts(sorted_keys: IntArray) -> IntArray:
    if len(sorted_keys) == 0:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))


def _linear_rows(
    proto: CpModelProto,
    starts: IntArray,
    variables: IntArray,
    coeffs: IntArray,
    lower: list[int],
    upper: list[int],
) -> None:
    """One constraint ``lower[r] ≤ Σ coeffs·variables ≤ upper[r]`` per row of a CSR layout."""
    if len(starts) == 0:
        return
    names = list(map(str, variables.tolist()))
    factors = list(map(str, coeffs.tolist()))
    ends = [*starts.tolist()[1:], len(names)]
    rows = (
        f"constraints{{linear{{vars:[{','.join(names[a:b])}] coeffs:[{','.join(factors[a:b])}]"
        f" domain:[{lo},{hi}]}}}}"
        for a, b, lo, hi in zip(starts.tolist(), ends, lower, upper, strict=True)
    )
    proto.merge_text_format("".join(rows))


def _at_most_one_rows(proto: CpModelProto, starts: IntArray, literals: IntArray) -> None:
    """One at-most-one constraint per row of a CSR layout of literals."""
    if len(starts) == 0:
        return
    names = list(map(str, literals.tolist()))
    ends = [*starts.tolist()[1:], len(names)]
    rows = (
        f"constraints{{at_most_one{{literals:[{','.join(names[a:b])}]}}}}"
        for a, b in zip(starts.tolist(), ends, strict=True)
    )
    proto.merge_text_format("".join(rows))
