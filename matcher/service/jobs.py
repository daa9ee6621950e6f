"""What a solver process runs: module-level functions (so they pickle by reference), light to
import (the forkserver preloads this module; no grpc or SQL here)."""

from __future__ import annotations

from dataclasses import dataclass

from matcher.solvers import produce
from matcher.solvers.common.solving import SolveParams
from matcher.solvers.produce.candidates import DEFAULT_K, nearest_orders, needs_candidates


@dataclass(frozen=True)
class ProduceJob:
    # Columns, not objects: they pickle to the solver process as a few dozen buffers.
    problem: produce.ProduceColumns
    # Orders screened per listing: 0 = all of them while the problem is small enough to
    # screen densely, else the DEFAULT_K nearest.
    orders_per_listing: int = 0
    baseline: bool = False  # also run the first-come-first-served baseline


def sparsified(job: ProduceJob) -> produce.ProduceColumns:
    """The job's problem, restricted to each listing's nearest orders when asked or needed."""
    problem = job.problem
    k = job.orders_per_listing
    if problem.candidates is not None or not (k or needs_candidates(problem)):
        return problem
    return problem.restricted(nearest_orders(problem, k or DEFAULT_K))


def solve_produce(
    job: ProduceJob, params: SolveParams
) -> tuple[produce.ProduceResult, produce.ProduceResult | None]:
    """The optimised allocation and, if asked, the first-come-first-served baseline."""
    problem = sparsified(job)
    result = produce.solve(problem, params)
    return result, produce.greedy(problem) if job.baseline else None
