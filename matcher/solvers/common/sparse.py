"""An integer linear model held as numpy arrays, written for CP-SAT or GLOP in bulk.

The cadre models (stationing's exact path, contracting, stable postings) are written once
into a ``SparseModel``; ``common.sparse_search`` solves it. Rows and variables go into the
CP-SAT proto from text in one call per kind, since ``CpModel.new_bool_var`` / ``add`` cost
microseconds each (over 5 s at 400,000 pairs, against about 0.6 s this way); the LP
relaxation goes to GLOP as one MPS string. A row is given as terms (row key, variable,
coefficient).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from ortools.linear_solver.python import model_builder_helper as mbh
from ortools.sat.python import cp_model

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
Terms = tuple[IntArray, IntArray, IntArray]  # (row key, variable, coefficient)

INT_MAX = 2**62  # an "unbounded" side of a row, well inside int64


@dataclass(frozen=True)
class _Rows:
    kind: str  # "linear", "at_most_one" or "exactly_one"
    variables: IntArray  # grouped by row
    coeffs: IntArray
    starts: IntArray
    lower: IntArray
    upper: IntArray


@dataclass
class SparseModel:
    """Variables with integer bounds, rows, and a linear objective to minimise."""

    lower: IntArray = field(default_factory=lambda: np.empty(0, np.int64))
    upper: IntArray = field(default_factory=lambda: np.empty(0, np.int64))
    rows: list[_Rows] = field(default_factory=list)
    cost: IntArray = field(default_factory=lambda: np.empty(0, np.int64))
    offset: int = 0  # a constant added to the objective

    def add_variables(self, lower: IntArray, upper: IntArray) -> int:
        """Integer variables with domains [lower, upper]; the index of the first one."""
        first = len(self.lower)
        self.lower = np.concatenate([self.lower, lower]).astype(np.int64)
        self.upper = np.concatenate([self.upper, upper]).astype(np.int64)
        self.cost = np.concatenate([self.cost, np.zeros(len(lower), np.int64)])
        return first

    def add_rows(self, terms: Terms, lower: IntArray, upper: IntArray) -> None:
        """For each key k among the terms, ``lower[k] ≤ Σ coefficient·variable ≤ upper[k]``."""
        key, variable, coeff = terms
        order, starts, keys = group(key)
        rows = _Rows("linear", variable[order], coeff[order], starts, lower[keys], upper[keys])
        self.rows.append(rows)

    def add_at_most_one(self, key: IntArray, literal: IntArray) -> None:
        """At most one literal true per key (keys with one literal need no row)."""
        order, starts, _ = group(key)
        size = np.diff(np.append(starts, len(order)))
        keep = np.repeat(size > 1, size)
        self._add_cardinality("at_most_one", key[order][keep], literal[order][keep], 0)

    def add_exactly_one(self, key: IntArray, literal: IntArray) -> None:
        order, _, _ = group(key)
        self._add_cardinality("exactly_one", key[order], literal[order], 1)

    def _add_cardinality(self, kind: str, key: IntArray, literal: IntArray, low: int) -> None:
        _, starts, _ = group(key)
        n = len(starts)
        ones = np.ones(len(literal), np.int64)
        rows = _Rows(kind, literal, ones, starts, np.full(n, low), np.ones(n, np.int64))
        self.rows.append(rows)

    def minimise(self, variables: IntArray, coeffs: IntArray) -> None:
        self.cost[variables] += coeffs

    def value(self, values: IntArray) -> int:
        """The objective of a full assignment."""
        return int(self.cost @ values) + self.offset

    def cp_model(self, hint: IntArray | None) -> cp_model.CpModel:
        """The model as CP-SAT sees it, built from text in a few bulk calls."""
        model = cp_model.CpModel()
        proto = model.proto
        domains = zip(self.lower.tolist(), self.upper.tolist(), strict=True)
        proto.merge_text_format("".join(f"variables{{domain:[{a},{b}]}}" for a, b in domains))
        for rows in self.rows:
            proto.merge_text_format("".join(_cp_rows(rows)))
        used = np.flatnonzero(self.cost)
        proto.objective.vars.extend(used.tolist())
        proto.objective.coeffs.extend(self.cost[used].tolist())
        proto.objective.offset = float(self.offset)
        if hint is not None:
            proto.solution_hint.vars.extend(range(len(hint)))
            proto.solution_hint.values.extend(hint.tolist())
        return model

    def lp_relaxation(self, seconds: float) -> Relaxation | None:
        """GLOP's optimum of the LP relaxation; None if not solved to optimality in time."""
        builder = mbh.ModelBuilderHelper()
        if not builder.import_from_mps_string(_mps(self)):
            return None
        solver = mbh.ModelSolverHelper("glop")
        solver.set_time_limit_in_seconds(max(seconds, 0.05))
        solver.solve(builder)
        if solver.status() == mbh.SolveStatus.INFEASIBLE:
            return Relaxation(math.inf, np.empty(0), np.empty(0))
        if solver.status() != mbh.SolveStatus.OPTIMAL:
            return None
        x = np.asarray(solver.variable_values(), dtype=np.float64)
        reduced = np.asarray(solver.reduced_costs(), dtype=np.float64)
        return Relaxation(float(solver.objective_value()) + self.offset, x, reduced)

    def fix_by_reduced_cost(self, lp: Relaxation, upper_bound: int) -> int:
        """Fix each variable that sits at a bound in the LP and whose reduced cost exceeds
        ``upper_bound`` − LP value: moving it would cost more than a known solution.
        Returns how many were fixed."""
        slack = upper_bound - lp.value - 1e-6 * max(1.0, abs(lp.value)) - 1e-6
        at_lower = (lp.x - self.lower <= 1e-9) & (lp.reduced > slack) & (self.lower < self.upper)
        at_upper = (self.upper - lp.x <= 1e-9) & (-lp.reduced > slack) & (self.lower < self.upper)
        self.upper = np.where(at_lower, self.lower, self.upper)
        self.lower = np.where(at_upper, self.upper, self.lower)
        return int(at_lower.sum() + at_upper.sum())


@dataclass(frozen=True)
class Relaxation:
    value: float  # inf if the LP is infeasible
    x: FloatArray
    reduced: FloatArray

    @property
    def bound(self) -> int:
        """The LP value rounded up: objectives are integers."""
        return INT_MAX if math.isinf(self.value) else math.ceil(self.value - 1e-6)


def spans(first: IntArray, count: IntArray) -> IntArray:
    """Positions first[i], first[i] + 1, …, first[i] + count[i] - 1 for each i, concatenated,
    without a Python loop."""
    offsets = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(count) - count, count
    )
    positions: IntArray = np.repeat(first, count) + offsets
    return positions


def group(keys: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Stable order that groups equal keys, each group's start in that order, and its key."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    if len(ordered) == 0:
        return order, np.empty(0, np.int64), np.empty(0, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    return order, starts, ordered[starts]


def _ends(starts: IntArray, size: int) -> list[int]:
    return [*starts.tolist()[1:], size] if len(starts) else []


def _cp_rows(rows: _Rows) -> list[str]:
    names = list(map(str, rows.variables.tolist()))
    spans = zip(rows.starts.tolist(), _ends(rows.starts, len(names)), strict=True)
    if rows.kind != "linear":
        return [
            f"constraints{{{rows.kind}{{literals:[{','.join(names[a:b])}]}}}}" for a, b in spans
        ]
    factors = list(map(str, rows.coeffs.tolist()))
    bounds = zip(rows.lower.tolist(), rows.upper.tolist(), strict=True)
    return [
        f"constraints{{linear{{vars:[{','.join(names[a:b])}] coeffs:[{','.join(factors[a:b])}]"
        f" domain:[{lo},{hi}]}}}}"
        for (a, b), (lo, hi) in zip(spans, bounds, strict=True)
    ]


def _mps(model: SparseModel) -> str:
    """The LP relaxation in free MPS: rows r<i>, columns x<j>; every column has an obj entry."""
    kinds, rhs, ranges, terms = _mps_rows(model)
    n_vars = len(model.lower)
    objective = (np.arange(n_vars, dtype=np.int64), np.full(n_vars, -1, np.int64), model.cost)
    variable, row, coeff = (np.concatenate(x) for x in zip(*terms, objective, strict=True))
    order = np.lexsort((row, variable))  # column by column, the objective entry first
    names = ["obj" if r < 0 else f"r{r}" for r in row[order].tolist()]
    entries = zip(variable[order].tolist(), names, coeff[order].tolist(), strict=True)
    return "".join(
        [
            "NAME cadres\nROWS\n N obj\n",
            *(f" {k} r{i}\n" for i, k in enumerate(kinds)),
            "COLUMNS\n",
            *(f" x{v} {r} {c}\n" for v, r, c in entries),
            "RHS\n",
            *(f" rhs r{i} {v}\n" for i, v in enumerate(rhs) if v != 0),
            "RANGES\n",
            *(f" rng r{i} {v}\n" for i, v in enumerate(ranges) if v >= 0),
            "BOUNDS\n",
            *_mps_bounds(model),
            "ENDATA\n",
        ]
    )


def _mps_rows(model: SparseModel) -> tuple[list[str], list[int], list[int], list[Terms]]:
    """Each row's type, right-hand side and range width (-1: none), and (variable, row,
    coefficient) terms. A row bounded on both sides is an L row with a range."""
    kinds: list[str] = []
    rhs: list[int] = []
    ranges: list[int] = []
    terms = []
    for rows in model.rows:
        n = len(rows.starts)
        lower = np.full(n, -INT_MAX) if rows.kind == "at_most_one" else rows.lower
        open_below, open_above = lower <= -INT_MAX // 2, rows.upper >= INT_MAX // 2
        equal = lower == rows.upper
        kind = np.where(equal, "E", np.where(open_above, "G", "L"))
        kinds += kind.tolist()
        rhs += np.where(equal | open_above, lower, rows.upper).tolist()
        ranges += np.where(~equal & ~open_below & ~open_above, rows.upper - lower, -1).tolist()
        size = np.diff(np.append(rows.starts, len(rows.variables)))
        row = len(kinds) - n + np.repeat(np.arange(n, dtype=np.int64), size)
        terms.append((rows.variables, row, rows.coeffs))
    return kinds, rhs, ranges, terms


def _mps_bounds(model: SparseModel) -> list[str]:
    """FX for fixed columns, else UP (and LO unless 0, the MPS default)."""
    lower, upper = model.lower.tolist(), model.upper.tolist()
    lines = []
    for j, (lo, hi) in enumerate(zip(lower, upper, strict=True)):
        if lo == hi:
            lines.append(f" FX bnd x{j} {lo}\n")
        else:
            lines.append(
                f" UP bnd x{j} {hi}\n" if lo == 0 else f" LO bnd x{j} {lo}\n UP bnd x{j} {hi}\n"
            )
    return lines
