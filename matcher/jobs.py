"""What a solver process runs: module-level functions (so they pickle by reference), light to
import (the forkserver preloads this module; no grpc or SQL here)."""

from __future__ import annotations

from matcher import produce
from matcher.solving import SolveParams


def solve_with_baseline(
    problem: produce.ProduceProblem, params: SolveParams
) -> tuple[produce.ProduceResult, produce.ProduceResult]:
    """The optimised allocation and the first-come-first-served baseline on the same data."""
    return produce.solve(problem, params), produce.greedy(problem)
