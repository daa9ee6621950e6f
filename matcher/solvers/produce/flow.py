"""Fast path: the transportation problem as a min-cost flow (OR-Tools SimpleMinCostFlow).

Network: source → listing (capacity = quantity), listing → order (the arcs, cost = −value),
order → sink (capacity = maximum quantity) and a zero-cost source → sink bypass so unsold
supply is allowed. Integral capacities give an integral optimum.

POVERTY_FIRST is solved exactly in two flows. Stage 1 maximises priority kilograms. Its
optimal face is every feasible flow that is complementary-slack with one optimal dual
(u, w): arcs with negative reduced value stay empty, listings with u > 0 sell everything,
orders with w > 0 are filled. Stage 2 maximises value over exactly that face: admissible arcs
only, forced listings as supply nodes without a bypass, forced orders as fixed demands. No big
weights, so no int64 overflow and no tolerance: the result is lexicographically optimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from matcher.solvers.common.solving import Objective
from matcher.solvers.produce.arcs import Arcs, Network, Screening
from matcher.solvers.produce.duals import order_duals, would_sell_floor
from matcher.solvers.produce.presolve import needed_arcs
from matcher.solvers.produce.tables import Tables

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class FlowSolution:
    """An optimal flow of the network relaxation with its explanations."""

    flow: IntArray  # kg per arc
    shadow_fen: IntArray  # per order: value of one more kg of its maximum ...
    has_shadow: BoolArray  # ... where it has one (a forced order has none)
    shadow_poor_bp: IntArray | None  # POVERTY_FIRST: priority kg (× 10,000) of one more kg
    would_sell: IntArray  # per listing (fully unsold ones; else -1), see would_sell_floor


def max_value_flow(arcs: Arcs, net: Network, weight: IntArray, use: BoolArray) -> IntArray:
    """Hard: supply and demand limits as capacities; Soft: maximise Σ weight × kg.

    Only arcs in ``use`` may carry flow; the flow is solved on those an optimal flow may use
    (``presolve``). Returns kg per arc (zeros outside ``use``).
    """
    use = needed_arcs(arcs, net, weight, use)
    n, m = net.supply.size, net.demand.size
    source, sink = 0, n + m + 1
    free_l, free_o = np.flatnonzero(~net.forced_listings), np.flatnonzero(~net.forced_orders)
    every = bool(use.all())
    li, oi = (arcs.listing, arcs.order) if every else (arcs.listing[use], arcs.order[use])
    free_supply = int(net.supply[free_l].sum())
    tails = _column(np.int32, np.zeros(free_l.size), 1 + li, 1 + n + free_o, [source])
    heads = _column(np.int32, 1 + free_l, 1 + n + oi, np.full(free_o.size, sink), [sink])
    caps = _column(
        np.int64,
        net.supply[free_l],
        arcs.capacity if every else arcs.capacity[use],
        net.demand[free_o],
        [free_supply],
    )
    arc_costs = -weight if every else -weight[use]
    costs = _column(np.int64, np.zeros(free_l.size), arc_costs, np.zeros(free_o.size + 1))
    mcf = min_cost_flow.SimpleMinCostFlow()
    ids = np.asarray(mcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs))
    supplies = np.zeros(n + m + 2, np.int64)
    supplies[1 : n + 1] = np.where(net.forced_listings, net.supply, 0)
    supplies[n + 1 : n + m + 1] = -np.where(net.forced_orders, net.demand, 0)
    supplies[source] = free_supply
    supplies[sink] = -(int(net.supply.sum()) - int(net.demand[net.forced_orders].sum()))
    mcf.set_nodes_supplies(np.arange(n + m + 2, dtype=np.int32), supplies)
    status = mcf.solve()
    if status != mcf.OPTIMAL:  # the network is feasible by construction: this is a bug
        raise RuntimeError(f"min-cost flow failed with status {status}")
    arc_ids = ids[free_l.size : free_l.size + li.size].astype(np.int32)
    kg = np.asarray(mcf.flows(arc_ids), dtype=np.int64)
    if every:
        return kg
    flow = np.zeros(arcs.size, np.int64)
    flow[use] = kg
    return flow


def _column(dtype: type[np.generic], *parts: npt.ArrayLike) -> npt.NDArray[Any]:
    """One contiguous array of ``dtype`` from the parts (source, arc, sink, bypass arcs)."""
    arrays = [np.asarray(part) for part in parts]
    out = np.empty(sum(a.size for a in arrays), dtype)
    start = 0
    for a in arrays:
        out[start : start + a.size] = a
        start += a.size
    return out


def solve_flow(
    objective: Objective, arcs: Arcs, screening: Screening, tables: Tables
) -> FlowSolution:
    """The optimal allocation ignoring side constraints, with shadow prices."""
    lt, ot = tables.listings, tables.orders
    none = np.zeros(lt.quantity.size, np.bool_), np.zeros(ot.max_q.size, np.bool_)
    plain = Network(lt.quantity, ot.max_q, *none)
    everything = np.ones(arcs.size, np.bool_)
    if objective is Objective.WELFARE:
        weight = arcs.margin + lt.bonus[arcs.listing]
        flow = max_value_flow(arcs, plain, weight, everything)
        duals = order_duals(arcs, plain, weight, flow, everything)
        sell = would_sell_floor(arcs, screening, flow, duals, lt.bonus, everything)
        return FlowSolution(flow, *duals.shadow(), None, sell)
    return _poverty_first(arcs, screening, tables, plain)


def _poverty_first(
    arcs: Arcs, screening: Screening, tables: Tables, plain: Network
) -> FlowSolution:
    """Two exact stages: priority kilograms, then value over the stage-1 optimal face."""
    everything = np.ones(arcs.size, np.bool_)
    poor = tables.listings.poor_bp[arcs.listing]
    flow1 = max_value_flow(arcs, plain, poor, everything)
    duals1 = order_duals(arcs, plain, poor, flow1, everything)
    u = duals1.listing_potentials(arcs, plain, poor, everything)
    reduced = poor - u[arcs.listing] - duals1.w_min[arcs.order]
    admissible = reduced == 0
    face = Network(plain.supply, plain.demand, u > 0, duals1.w_min > 0)
    margin = arcs.margin
    flow = max_value_flow(arcs, face, margin, admissible)
    duals2 = order_duals(arcs, face, margin, flow, admissible)
    no_bonus = np.zeros(plain.supply.size, np.int64)
    sell = would_sell_floor(
        arcs, screening, flow, duals2, no_bonus, admissible, compete_blocked=False
    )
    fen, has = duals2.shadow()
    return FlowSolution(flow, fen, has & ~face.forced_orders, duals1.w_min.copy(), sell)
