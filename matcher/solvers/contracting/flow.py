"""Contracting's LP relaxation as one min-cost flow, in about a second instead of GLOP's 15.

When a household's effort is the same towards every cadre (always so by default, and for an
office's ``scores`` whose efforts are the same for
every cadre of a household), the LP relaxation of ``contracting.build_model``
is a transportation problem in effort units: with y = effort · x, each household sends its
effort (supply w_h) over its candidate pairs to cadres, each cadre takes at most its quota,
and a pair costs cost / w_h per unit. Costs are scaled by S, the least common multiple of the
efforts, so every unit cost is an integer and the flow's optimum is exactly S × the LP's.

Network: household → cadre per pair (capacity w_h, cost cost·S/w_h), cadre → sink (capacity
its quota, cost 0), household supplies w_h, sink demand Σw_h. x = y / w_h is an optimal
solution of the LP, with the same value. SimpleMinCostFlow gives no node potentials, so the
relaxation carries zero reduced costs: reduced-cost fixing then fixes nothing (sound, only
weaker).
"""

from __future__ import annotations

import math

import numpy as np
from ortools.graph.python import min_cost_flow

from matcher.solvers.common.sparse import Relaxation
from matcher.solvers.contracting.pairs import Pairs

_MAX_SCALE = 1_000_000  # beyond this lcm of efforts, leave the LP to GLOP
_MAX_COST = 2**62  # total scaled cost must stay inside int64


def relaxation(pairs: Pairs) -> Relaxation | None:
    """The LP optimum as a flow; None where the flow form does not apply (a household whose
    effort differs between cadres, efforts whose lcm is too large, or a flow that fails)."""
    if len(pairs.cadre) == 0:
        return None
    rows = pairs.row
    effort = np.zeros(len(pairs.needy), np.int64)
    effort[rows] = pairs.effort
    if np.any(effort[rows] != pairs.effort) or np.any(effort <= 0):
        return None
    scale = math.lcm(*np.unique(effort).tolist())
    unit_cost = pairs.cost * (scale // pairs.effort)
    if scale > _MAX_SCALE or int(np.abs(unit_cost).max()) * int(effort.sum()) >= _MAX_COST:
        return None
    flow = _solve(pairs, rows, effort, unit_cost)
    if flow is None:
        return None
    solver, n_pairs = flow
    units = solver.flows(np.arange(n_pairs, dtype=np.int64))
    x = units / pairs.effort
    return Relaxation(solver.optimal_cost() / scale, x, np.zeros(n_pairs))


def _solve(
    pairs: Pairs, rows: np.ndarray, effort: np.ndarray, unit_cost: np.ndarray
) -> tuple[min_cost_flow.SimpleMinCostFlow, int] | None:
    """Households are nodes 0…H-1, cadres H…H+C-1, the sink H+C."""
    n_households, n_cadres = len(pairs.needy), len(pairs.sites.quota)
    sink = n_households + n_cadres
    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(
        rows, n_households + pairs.cadre, pairs.effort, unit_cost
    )
    cadres = np.arange(n_cadres, dtype=np.int64)
    solver.add_arcs_with_capacity_and_unit_cost(
        n_households + cadres,
        np.full(n_cadres, sink, np.int64),
        pairs.sites.quota,
        np.zeros(n_cadres, np.int64),
    )
    nodes = np.arange(n_households + 1, dtype=np.int64)
    nodes[-1] = sink
    solver.set_nodes_supplies(nodes, np.append(effort, -int(effort.sum())))
    if solver.solve() != min_cost_flow.SimpleMinCostFlow.OPTIMAL:
        return None
    return solver, len(pairs.cadre)
