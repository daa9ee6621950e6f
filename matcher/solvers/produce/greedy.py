"""First-come-first-served baseline: what happens without a matching platform.

Listings in order of availability (then id) each sell to the best-paying compatible orders
(highest price net of transport) until their quantity or the orders' capacity runs out. Side
constraints are then repaired the way the exact path's hint is. Benchmarks compare its
priority-household kilograms and objective against ``solve``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from matcher.solvers.common.solving import SolveStatus, Timings
from matcher.solvers.produce.arcs import Arcs, build_arcs
from matcher.solvers.produce.columns import ProduceColumns, as_columns
from matcher.solvers.produce.model import repair
from matcher.solvers.produce.problem import ProduceProblem
from matcher.solvers.produce.result import ProduceResult, Solution, arc_bonus, assemble
from matcher.solvers.produce.tables import Tables

IntArray = npt.NDArray[np.int64]


def greedy(problem: ProduceProblem | ProduceColumns) -> ProduceResult:
    """The first-come-first-served allocation, as a FEASIBLE result without bound or prices."""
    problem = as_columns(problem)
    timings = Timings()
    with timings.measure("build"):
        arcs, screening, tables = build_arcs(problem)
    with timings.measure("solve"):
        flow = first_come_first_served(problem, arcs, tables)
        per_kg = arcs.margin + arc_bonus(problem.objective, arcs, tables)
        flow, trucks = repair(arcs, tables, flow, per_kg)
    solution = Solution(flow, trucks, SolveStatus.FEASIBLE, None, "greedy", None)
    return assemble(problem, (arcs, screening, tables), solution, timings)


def first_come_first_served(problem: ProduceColumns, arcs: Arcs, tables: Tables) -> IntArray:
    """Kg per arc when each listing in turn fills its best-paying orders."""
    ls = problem.listings
    by_id = np.argsort(np.array(ls.id, dtype=str), kind="stable")
    id_rank = np.empty(len(ls), np.int64)
    id_rank[by_id] = np.arange(len(ls))
    arrival = np.lexsort((id_rank, ls.available_from))  # available_from, then id
    rank = np.empty(len(ls), np.int64)
    rank[arrival] = np.arange(len(arrival))
    net = arcs.price - arcs.transport
    seq = np.lexsort((arcs.order, -net, rank[arcs.listing]))
    cuts = np.flatnonzero(np.diff(arcs.listing[seq])) + 1
    remaining = tables.orders.max_q.copy()
    flow = np.zeros(arcs.size, np.int64)
    for block in np.split(seq, cuts) if seq.size else []:  # one listing at a time
        orders = arcs.order[block]
        room = remaining[orders]
        before = np.cumsum(room) - room
        supply = tables.listings.quantity[arcs.listing[block[0]]]
        take = np.clip(supply - before, 0, room)
        flow[block] = take
        remaining[orders] -= take
    return flow
