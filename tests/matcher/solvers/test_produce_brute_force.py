"""Produce optimality by brute force: every integer allocation of a tiny instance."""

from __future__ import annotations

import datetime
import itertools
import math
from dataclasses import replace

from matcher.solvers.common.solving import Objective
from matcher.solvers.produce import (
    Lane,
    Listing,
    Order,
    PovertyClass,
    ProduceProblem,
    TransportConfig,
    household,
    solve,
)
from tests.matcher.solvers.produce_reference import (
    PARAMS,
    TODAY,
    check_feasible,
    ref_arcs,
)


def brute_force(p: ProduceProblem) -> tuple[int, int]:
    """Best (priority, value) or (0, value) over every integer allocation of a tiny instance."""
    arcs = ref_arcs(p)
    best = None
    ranges = [
        range(min(p.listings[e.i].quantity_kg, p.orders[e.j].max_quantity_kg) + 1) for e in arcs
    ]
    for x in itertools.product(*ranges):
        if any(0 < k < e.lot for k, e in zip(x, arcs, strict=True)):
            continue
        if any(
            sum(k for k, e in zip(x, arcs, strict=True) if e.i == i) > grower.quantity_kg
            for i, grower in enumerate(p.listings)
        ):
            continue
        fills = [
            sum(k for k, e in zip(x, arcs, strict=True) if e.j == j) for j in range(len(p.orders))
        ]
        if any(
            f not in {0, *range(o.min_quantity_kg, o.max_quantity_kg + 1)}
            for f, o in zip(fills, p.orders, strict=True)
        ):
            continue
        bonus = p.objective is Objective.WELFARE
        value = sum(
            k * (e.margin + (e.bonus if bonus else 0)) - e.fixed * math.ceil(k / e.truck)
            for k, e in zip(x, arcs, strict=True)
        )
        poor = sum(k * e.poor for k, e in zip(x, arcs, strict=True)) if not bonus else 0
        best = max(best or (poor, value), (poor, value))
    return best


def tiny(objective: Objective) -> ProduceProblem:
    """Two plum growers (one impoverished) and two buyers, one with a 4 kg minimum."""
    grower = Listing(
        "poor",
        "plum",
        "A",
        4,
        100,
        23.7,
        117.2,
        TODAY,
        TODAY,
        3,
        household(PovertyClass.IMPOVERISHED),
    )
    farm = replace(
        grower,
        id="farm",
        quantity_kg=3,
        floor_price_fen=60,
        shares=household(PovertyClass.NOT_POOR),
    )
    plant = Order(
        "plant", "plum", frozenset("A"), 4, 5, 200, 23.3, 116.2, TODAY + datetime.timedelta(2)
    )
    shop = replace(plant, id="shop", min_quantity_kg=0, max_quantity_kg=2, price_fen=260)
    lanes = {("farm", "shop"): Lane(20, 1, min_lot_kg=2, fixed_cost_fen=150, truck_capacity_kg=2)}
    return ProduceProblem(
        listings=(grower, farm),
        orders=(plant, shop),
        today=TODAY,
        transport=TransportConfig(lanes=lanes),
        objective=objective,
    )


def test_brute_force_welfare_tiny():
    """Brute force over all 5·4·3·3 allocations agrees with solve under WELFARE."""
    p = tiny(Objective.WELFARE)
    assert solve(p, PARAMS).objective == brute_force(p)[1]


def test_brute_force_poverty_first_tiny():
    """Brute force agrees with solve on (priority kg, value) under POVERTY_FIRST."""
    p = tiny(Objective.POVERTY_FIRST)
    result = solve(p, PARAMS)
    assert check_feasible(p, result) == brute_force(p)


def test_brute_force_fast_path_tiny():
    """Without side constraints the min-cost flow matches brute force too."""
    p = tiny(Objective.WELFARE)
    plain = replace(
        p,
        orders=tuple(replace(o, min_quantity_kg=0) for o in p.orders),
        transport=TransportConfig(),
    )
    result = solve(plain, PARAMS)
    assert result.method == "min_cost_flow"
    assert result.objective == brute_force(plain)[1]
