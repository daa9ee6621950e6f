"""What a solver process runs: module-level functions (so they pickle by reference), light to
import (the forkserver preloads this module; no grpc or SQL here). Produce jobs, then the cadre
runs': stationing (MIN_COST or STABLE, with blocking pairs) and contracting."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from matcher.solvers import contracting, produce, stationing
from matcher.solvers.common.solving import SolveParams
from matcher.solvers.produce.candidates import DEFAULT_K, nearest_orders, needs_candidates
from matcher.solvers.stationing import stability
from matcher.solvers.stationing.arcs import Arcs, build_arcs
from matcher.solvers.stationing.result import Solution, build_result, designate_secretaries


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


Ranking = Mapping[str, Sequence[str]]


class Mode(enum.Enum):
    MIN_COST = "MIN_COST"
    STABLE = "STABLE"


@dataclass(frozen=True)
class StationingJob:
    problem: stationing.StationingProblem
    mode: Mode = Mode.MIN_COST
    # Preference lists, best first; None = not given (STABLE mode then derives them).
    cadre_prefs: Ranking | None = None
    village_prefs: Ranking | None = None


@dataclass(frozen=True)
class StationingOutcome:
    result: stationing.StationingResult
    blocking: tuple[tuple[str, str], ...] = ()
    preferences_used: bool = False
    mode: Mode = Mode.MIN_COST


def solve_stationing(job: StationingJob, params: SolveParams) -> StationingOutcome:
    """The job's stationing, with the blocking pairs of its preferences when there are some."""
    problem = job.problem
    given = job.cadre_prefs is not None or job.village_prefs is not None
    if job.mode is Mode.MIN_COST:
        result = stationing.solve(problem, params)
        if not given:
            return StationingOutcome(result)
        prefs = preferences(job)
        return StationingOutcome(result, _blocking(result, prefs), True, job.mode)
    arcs = build_arcs(problem).unique()
    prefs = preferences(job, arcs) if given else stability.problem_from_stationing(problem)
    stable = stability.solve(prefs, params)
    result = _stationing_of(problem, arcs, stable)
    return StationingOutcome(result, _blocking(result, prefs), True, job.mode)


def preferences(job: StationingJob, arcs: Arcs | None = None) -> stability.StableProblem:
    """The given lists, restricted to pairs within reach (arcs); cost = the arc's cost. A
    pinned cadre lists only its posting and heads that village's list, so it stays there in
    every stable assignment (as in ``stability.problem_from_stationing``)."""
    problem = job.problem
    arcs = arcs if arcs is not None else build_arcs(problem).unique()
    cadres, villages = problem.cadres, problem.villages
    cost = {
        (cadres[c].id, villages[v].id): k
        for c, v, k in zip(
            arcs.cadre.tolist(), arcs.village.tolist(), arcs.cost.tolist(), strict=True
        )
    }
    given_c, given_v = job.cadre_prefs or {}, job.village_prefs or {}
    pinned = {c.id: c.current_village_id for c in cadres if c.pinned and c.current_village_id}
    cadre_prefs = {c.id: [v for v in given_c.get(c.id, ()) if (c.id, v) in cost] for c in cadres}
    cadre_prefs.update({c: [home] for c, home in pinned.items()})
    village_prefs = {}
    for v in villages:
        heads = sorted(c for c, home in pinned.items() if home == v.id)
        rest = [c for c in given_v.get(v.id, ()) if (c, v.id) in cost and c not in pinned]
        village_prefs[v.id] = heads + rest
    capacity = {v.id: v.team_max for v in villages}
    return stability.StableProblem(cadre_prefs, village_prefs, capacity, cost)


def _blocking(
    result: stationing.StationingResult, prefs: stability.StableProblem
) -> tuple[tuple[str, str], ...]:
    assignment: dict[str, str | None] = dict.fromkeys(prefs.cadre_prefs)
    assignment.update({p.cadre_id: p.village_id for p in result.postings})
    return tuple(stability.blocking_pairs(assignment, prefs))


def _stationing_of(
    problem: stationing.StationingProblem, arcs: Arcs, stable: stability.StableResult
) -> stationing.StationingResult:
    """The stable assignment explained as a stationing (postings, short villages); objective,
    bound and gap are the stable model's (travel and continuity cost of the pairs)."""
    cadre_index = {c.id: i for i, c in enumerate(problem.cadres)}
    village_index = {v.id: j for j, v in enumerate(problem.villages)}
    n_villages = len(problem.villages)
    pairs = [(cadre_index[c], village_index[v]) for c, v in stable.assignment.items() if v]
    keys = np.array([c * n_villages + v for c, v in pairs], dtype=np.int64)
    arc_keys = arcs.cadre * n_villages + arcs.village  # sorted: arcs.unique() sorts them
    chosen = np.searchsorted(arc_keys, keys).astype(np.int64)
    secretary = designate_secretaries(arcs, chosen, np.empty(0, dtype=np.int64))
    result = build_result(
        problem,
        arcs,
        Solution(chosen, secretary),
        status=stable.status,
        bound=stable.bound,
        timings=stable.timings,
        fast_path=False,
    )
    return dataclasses.replace(
        result, objective=stable.objective, bound=stable.bound, gap=stable.gap
    )


def solve_contracting(
    problem: contracting.ContractingProblem, params: SolveParams
) -> contracting.ContractingResult:
    return contracting.solve(problem, params)
