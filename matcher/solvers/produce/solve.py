"""Produce allocation: match listings (supply) to orders (demand), net of transport, with a
policy tilt toward poor-household producers.

``solve(problem, params)`` builds the arcs (``arcs``), solves the network relaxation
as a min-cost flow (``flow``; exact when there are no side constraints) and, when
orders have minimum quantities or lanes have minimum lots or fixed costs, the exact CP-SAT
model (``model``, ``search``) hinted with the repaired relaxation. Results
carry shadow prices (``duals``) and a reason for every unsold kilogram
(``result``). ``greedy(problem)`` is the first-come-first-served baseline.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from matcher.solvers.common.solving import Objective, SolveParams, SolveStatus, Timings
from matcher.solvers.produce.arcs import build_arcs
from matcher.solvers.produce.columns import ProduceColumns, as_columns
from matcher.solvers.produce.flow import solve_flow
from matcher.solvers.produce.model import needs_exact
from matcher.solvers.produce.problem import ProduceProblem
from matcher.solvers.produce.result import (
    ProduceResult,
    Solution,
    assemble,
    objective_value,
)
from matcher.solvers.produce.search import solve_exact

__all__ = ["solve"]

DEFAULT_PARAMS = SolveParams()


def solve(
    problem: ProduceProblem | ProduceColumns, params: SolveParams = DEFAULT_PARAMS
) -> ProduceResult:
    """The best allocation for ``problem.objective``; never raises for running out of time."""
    problem = as_columns(problem)
    timings = Timings()
    started = time.perf_counter()
    with timings.measure("build"):
        arcs, screening, tables = build_arcs(problem)
    with timings.measure("solve"):
        relaxed = solve_flow(problem.objective, arcs, screening, tables)
        if needs_exact(arcs, tables):
            solution = solve_exact(problem.objective, (arcs, tables), params, relaxed, started)
        else:
            trucks = np.zeros(arcs.size, np.int64)
            value = objective_value(problem.objective, arcs, tables, relaxed.flow, trucks)
            solution = Solution(
                relaxed.flow, trucks, SolveStatus.OPTIMAL, value, "min_cost_flow", relaxed
            )
            if problem.objective is Objective.POVERTY_FIRST:
                poor = tables.listings.poor_bp[arcs.listing]
                solution = replace(solution, priority_bound_bp=int(poor @ relaxed.flow))
            if params.progress:
                params.progress(value, value, time.perf_counter() - started)
    return assemble(problem, (arcs, screening, tables), solution, timings)
