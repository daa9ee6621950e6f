"""Exact path: CP-SAT when side constraints break the network structure.

Data (arcs) → model (kg per arc, plus a boolean per minimum-quantity order, per minimum-lot
lane and a truck count per fixed-cost lane) → constraints (one named function each) →
objective → solve with the repaired network relaxation as hint → status check. Time runs
out gracefully: the best solution found (at worst the hint, always feasible) comes back as
FEASIBLE with its gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from matcher.solvers.produce.arcs import Arcs
from matcher.solvers.produce.tables import Tables

IntArray = npt.NDArray[np.int64]


@dataclass
class Model:
    """The CP-SAT model and its variables, by arc / order index."""

    cp: cp_model.CpModel
    x: list[cp_model.IntVar]
    filled: dict[int, cp_model.IntVar] = field(default_factory=dict)  # order → "min is met"
    shipped: dict[int, cp_model.IntVar] = field(default_factory=dict)  # arc → "lot is met"
    trucks: dict[int, cp_model.IntVar] = field(default_factory=dict)  # arc → trucks


def truck_size(arcs: Arcs) -> IntArray:
    """Kg per truck; a lane without a truck capacity pays its fixed cost once (one 'truck')."""
    return np.where(arcs.truck_capacity > 0, arcs.truck_capacity, np.maximum(arcs.capacity, 1))


def needs_exact(arcs: Arcs, tables: Tables) -> bool:
    """Side constraints that matter; a minimum of 1 kg is no constraint for integer kg."""
    with_minimum = tables.orders.min_q > 1  # per order: a gather over every arc only if any
    return bool(
        (with_minimum.any() and with_minimum[arcs.order].any())
        or (arcs.min_lot > 1).any()
        or (arcs.fixed_cost > 0).any()
    )


def build_model(arcs: Arcs, tables: Tables) -> Model:
    model = Model(cp_model.CpModel(), [])
    model.x = [model.cp.new_int_var(0, int(c), "") for c in arcs.capacity]
    add_supply_limits(model, arcs, tables)
    add_demand_limits(model, arcs, tables)
    add_min_order_quantity(model, arcs, tables)
    add_min_lot(model, arcs)
    add_truck_fixed_costs(model, arcs)
    return model


def _groups(keys: IntArray) -> list[IntArray]:
    """Arc indices grouped by key (listing or order), in key order."""
    order = np.argsort(keys, kind="stable")
    cuts = np.flatnonzero(np.diff(keys[order])) + 1
    return np.split(order, cuts) if keys.size else []


def add_supply_limits(model: Model, arcs: Arcs, tables: Tables) -> None:
    """Hard: a listing ships at most its quantity."""
    for group in _groups(arcs.listing):
        i = int(arcs.listing[group[0]])
        model.cp.add(sum(model.x[a] for a in group) <= int(tables.listings.quantity[i]))


def add_demand_limits(model: Model, arcs: Arcs, tables: Tables) -> None:
    """Hard: an order receives at most its maximum quantity."""
    for group in _groups(arcs.order):
        j = int(arcs.order[group[0]])
        model.cp.add(sum(model.x[a] for a in group) <= int(tables.orders.max_q[j]))


def add_min_order_quantity(model: Model, arcs: Arcs, tables: Tables) -> None:
    """Hard: an order with a minimum gets at least that much or nothing."""
    ot = tables.orders
    for group in _groups(arcs.order):
        j = int(arcs.order[group[0]])
        if ot.min_q[j] <= 1:
            continue
        met = model.cp.new_bool_var("")
        total = sum(model.x[a] for a in group)
        model.cp.add(total >= int(ot.min_q[j]) * met)
        model.cp.add(total <= int(ot.max_q[j]) * met)
        model.filled[j] = met


def add_min_lot(model: Model, arcs: Arcs) -> None:
    """Hard: a lane with a minimum lot ships nothing or at least the lot."""
    for a in np.flatnonzero(arcs.min_lot > 1):
        used = model.cp.new_bool_var("")
        model.cp.add(model.x[a] >= int(arcs.min_lot[a]) * used)
        model.cp.add(model.x[a] <= int(arcs.capacity[a]) * used)
        model.shipped[int(a)] = used


def add_truck_fixed_costs(model: Model, arcs: Arcs) -> None:
    """Soft: each truck on a fixed-cost lane costs its fixed charge (Hard: trucks carry kg)."""
    size = truck_size(arcs)
    for a in np.flatnonzero(arcs.fixed_cost > 0):
        most = math.ceil(int(arcs.capacity[a]) / int(size[a]))
        trucks = model.cp.new_int_var(0, most, "")
        model.cp.add(model.x[a] <= int(size[a]) * trucks)
        model.trucks[int(a)] = trucks


def value_expr(model: Model, arcs: Arcs, per_kg: IntArray) -> cp_model.LinearExprT:
    """Soft: Σ kg × value per kg − Σ trucks × fixed cost."""
    fixed = [(v, -int(arcs.fixed_cost[a])) for a, v in model.trucks.items()]
    variables = model.x + [v for v, _ in fixed]
    coefficients = [int(c) for c in per_kg] + [c for _, c in fixed]
    return cp_model.LinearExpr.weighted_sum(variables, coefficients)


def trucks_needed(arcs: Arcs, flow: IntArray) -> IntArray:
    """Fewest trucks carrying ``flow`` on fixed-cost lanes (0 elsewhere)."""
    size = truck_size(arcs)
    return np.where(arcs.fixed_cost > 0, -(-flow // size), 0).astype(np.int64)


def repair(
    arcs: Arcs, tables: Tables, flow: IntArray, value: IntArray | None
) -> tuple[IntArray, IntArray]:
    """A feasible (kg, trucks) near ``flow``: drop lanes below their lot and orders below
    their minimum; with ``value`` per kg, also lanes whose trucks cost more than they earn."""
    x = np.where(flow >= arcs.min_lot, flow, 0)
    while True:
        filled = np.bincount(arcs.order, x, tables.orders.max_q.size)
        short = (filled > 0) & (filled < tables.orders.min_q)
        trucks = trucks_needed(arcs, x)
        drop = short[arcs.order] & (x > 0)
        if value is not None:
            drop |= (x > 0) & (value * x < arcs.fixed_cost * trucks)
        if not drop.any():
            return x, trucks
        x = np.where(drop, 0, x)


def set_hint(model: Model, arcs: Arcs, flow: IntArray) -> None:
    """Hint every variable from a feasible (repaired) flow."""
    model.cp.clear_hints()  # type: ignore[no-untyped-call]  # untyped in OR-Tools 9.15
    trucks = trucks_needed(arcs, flow)
    filled = np.bincount(arcs.order, flow, max(int(arcs.order.max(initial=0)) + 1, 1))
    for a, var in enumerate(model.x):
        model.cp.add_hint(var, int(flow[a]))
    for j, met in model.filled.items():
        model.cp.add_hint(met, bool(filled[j] > 0))
    for a, used in model.shipped.items():
        model.cp.add_hint(used, bool(flow[a] > 0))
    for a, count in model.trucks.items():
        model.cp.add_hint(count, int(trucks[a]))
