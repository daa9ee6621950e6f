"""The fast path: stationing as one min-cost flow (no coverage, rank or unit limits).

Network, built from numpy arrays in a few vectorised steps:

- each cadre with an arc has supply 1; the sink T has the matching demand;
- cadre → village, capacity 1, the arc's cost (metres, less the continuity bonus if kept);
- village → T three times: the first seat of a village with ``team_min`` ≥ 1 at cost
  −``shortage_penalty`` −``secretary_penalty`` (any member can lead it), the rest up to
  ``team_min`` at −``shortage_penalty`` (filling a required seat earns the penalty back: the
  shortage and secretary terms of the objective shifted by a constant), and up to
  ``team_max`` at 0;
- cadre → T, capacity 1, cost 0: the cadre stays unposted (pinned cadres have none).

A pinned cadre's only arc is its posting and it has no cadre → T arc, so its unit of flow
must take the posting (StationingProblem checks pinned cadres fit their team). Min-cost flow
has integral optimal solutions, so the flow is an optimal stationing, not a relaxation, and
any member can be first secretary since no village asks for rank.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from matcher.solvers.common.solving import SolveParams, SolveStatus, Timings
from matcher.solvers.stationing.arcs import Arcs, IntArray
from matcher.solvers.stationing.problem import StationingProblem, StationingResult
from matcher.solvers.stationing.result import (
    Solution,
    build_result,
    designate_secretaries,
    empty_result,
)


@dataclass(frozen=True)
class Network:
    """Arc arrays as SimpleMinCostFlow takes them, in two batches: first one arc per
    stationing arc (cadre → village, the arrays shared with ``Arcs`` where possible), then
    the village → sink and cadre → sink arcs."""

    tails: IntArray
    heads: IntArray
    capacities: IntArray
    costs: IntArray
    extra_tails: IntArray
    extra_heads: IntArray
    extra_capacities: IntArray
    extra_costs: IntArray
    nodes: IntArray
    supplies: IntArray


def build_network(problem: StationingProblem, arcs: Arcs) -> Network:
    """Hard: each cadre at most one village, each team within its size; a pinned cadre has
    one arc and no way to stay home, so its flow must take its posting. Soft: shortage, and
    the secretary penalty of a village left empty (anyone can lead, so staffed means led)."""
    sites = arcs.sites
    n_cadres, n_villages = len(sites.rank), len(sites.team_min)
    senders = np.flatnonzero(np.bincount(arcs.cadre, minlength=n_cadres) > 0)
    free = senders[~sites.pinned[senders]]
    sink = n_cadres + n_villages
    village, capacity, cost = seat_arcs(problem, sites.team_min, sites.team_max)
    return Network(
        tails=arcs.cadre,
        heads=n_cadres + arcs.village,
        capacities=np.ones(len(arcs), np.int64),
        costs=arcs.cost,
        extra_tails=np.concatenate([n_cadres + village, free]),
        extra_heads=np.full(len(village) + len(free), sink, np.int64),
        extra_capacities=np.concatenate([capacity, np.ones(len(free), np.int64)]),
        extra_costs=np.concatenate([cost, np.zeros(len(free), np.int64)]),
        nodes=np.append(senders, sink),
        supplies=np.append(np.ones(len(senders), np.int64), -len(senders)),
    )


def seat_arcs(
    problem: StationingProblem, team_min: IntArray, team_max: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Village → sink arcs as (village, capacity, cost).

    Seats fill cheapest first, as costs rise along them: the first seat of a village with
    ``team_min`` ≥ 1 earns the shortage and the secretary penalty (any member can lead), the
    rest up to ``team_min`` the shortage penalty, and the rest up to ``team_max`` nothing.
    """
    n_villages = len(team_min)
    first = (team_min > 0).astype(np.int64)
    shortage, secretary = problem.shortage_penalty, problem.secretary_penalty
    village = np.arange(n_villages, dtype=np.int64)
    return (
        np.concatenate([village, village, village]),
        np.concatenate([first, team_min - first, team_max - team_min]),
        np.concatenate(
            [
                np.full(n_villages, -shortage - secretary, np.int64),
                np.full(n_villages, -shortage, np.int64),
                np.zeros(n_villages, np.int64),
            ]
        ),
    )


def run_network(network: Network) -> tuple[min_cost_flow.SimpleMinCostFlow, int]:
    """Load the arrays into SimpleMinCostFlow and solve; the solver and its status code."""
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        network.tails, network.heads, network.capacities, network.costs
    )
    flow.add_arcs_with_capacity_and_unit_cost(
        network.extra_tails, network.extra_heads, network.extra_capacities, network.extra_costs
    )
    flow.set_nodes_supplies(network.nodes, network.supplies)
    return flow, flow.solve()


def solve_flow(
    problem: StationingProblem, arcs: Arcs, params: SolveParams, timings: Timings
) -> StationingResult:
    """Solve the network; exact, so the bound equals the objective."""
    started = time.perf_counter()
    with timings.measure("build"):
        network = build_network(problem, arcs)
    with timings.measure("solve"):
        flow, code = run_network(network)
    if code != min_cost_flow.SimpleMinCostFlow.OPTIMAL:
        # Costs out of range (a huge penalty) is the only way here; supplies always balance.
        return empty_result(SolveStatus.MODEL_INVALID, timings)
    with timings.measure("solve"):  # reading the flow back counts as solving
        chosen = np.flatnonzero(flow.flows(np.arange(len(arcs), dtype=np.int64)) > 0)
        secretaries = designate_secretaries(arcs, chosen, np.empty(0, dtype=np.int64))
        result = build_result(
            problem,
            arcs,
            Solution(chosen, secretaries),
            status=SolveStatus.OPTIMAL,
            bound=2**62,
            timings=timings,
            fast_path=True,
        )
    if params.progress is not None:
        params.progress(result.objective, result.bound, time.perf_counter() - started)
    return result
