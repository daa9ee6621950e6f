"""Produce optimality against an independent MILP (scipy / HiGHS): both paths, both
objectives, and the explanations (shadow prices, would-sell floors) checked by re-solving;
the flow's presolve against the LP of every arc."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from matcher.solvers.common.solving import Objective
from matcher.solvers.produce import (
    ProduceProblem,
    solve,
)
from matcher.solvers.produce.arcs import Arcs, Network
from matcher.solvers.produce.flow import max_value_flow
from matcher.solvers.produce.presolve import needed_arcs
from tests.matcher.solvers.produce_reference import (
    EXACT,
    FAST,
    PARAMS,
    assert_optimal,
    instances,
    ref_solve,
)


@FAST
@given(instances(exact=False, objective=Objective.WELFARE))
def test_welfare_fast_path_matches_milp(p):
    """Min-cost flow reaches the MILP's welfare optimum, and its shadow prices are exact."""
    result = solve(p, PARAMS)
    assert result.method == "min_cost_flow"
    assert_optimal(p, result)
    base = ref_solve(p, Objective.WELFARE)[1]
    for j, outcome in enumerate(result.orders):
        more = replace(p.orders[j], max_quantity_kg=p.orders[j].max_quantity_kg + 1)
        bigger = replace(p, orders=(*p.orders[:j], more, *p.orders[j + 1 :]))
        assert ref_solve(bigger, Objective.WELFARE)[1] - base == outcome.shadow_price_fen


@FAST
@given(instances(exact=False, objective=Objective.POVERTY_FIRST))
def test_poverty_first_fast_path_matches_milp(p):
    """The two-flow lexicographic optimum equals the two-stage MILP's; shadow prices exact."""
    result = solve(p, PARAMS)
    assert_optimal(p, result)
    poor, value = ref_solve(p, Objective.POVERTY_FIRST)
    for j, outcome in enumerate(result.orders):
        more = replace(p.orders[j], max_quantity_kg=p.orders[j].max_quantity_kg + 1)
        bigger = replace(p, orders=(*p.orders[:j], more, *p.orders[j + 1 :]))
        poor2, value2 = ref_solve(bigger, Objective.POVERTY_FIRST)
        assert poor2 - poor == round(outcome.shadow_priority_kg * 10_000)
        if poor2 == poor:
            assert value2 - value == outcome.shadow_price_fen


def with_floor(p: ProduceProblem, i: int, floor: int) -> ProduceProblem:
    changed = replace(p.listings[i], floor_price_fen=floor)
    return replace(p, listings=(*p.listings[:i], changed, *p.listings[i + 1 :]))


WELFARE = Objective.WELFARE


@FAST
@given(instances(exact=False, objective=Objective.WELFARE))
def test_would_sell_at_floor_is_the_selling_threshold(p):
    """At the reported floor selling ties the optimum; one fen higher it is strictly worse."""
    result = solve(p, PARAMS)
    for unsold in result.unsold:
        i = next(k for k, x in enumerate(p.listings) if x.id == unsold.listing_id)
        if unsold.unsold_kg < p.listings[i].quantity_kg:
            continue  # partly sold: no threshold reported
        floor = unsold.would_sell_at_floor_fen
        if floor is not None:
            tie = with_floor(p, i, floor)
            assert ref_solve(tie, WELFARE, sell=i) == ref_solve(tie, WELFARE)
        above = with_floor(p, i, 0 if floor is None else floor + 1)
        forced = ref_solve(above, Objective.WELFARE, sell=i)
        assert forced is None or forced[1] < ref_solve(above, Objective.WELFARE)[1]


@EXACT
@given(instances(exact=True, objective=Objective.WELFARE))
def test_welfare_exact_path_matches_milp(p):
    """CP-SAT with minimum quantities, lots and fixed costs reaches the MILP optimum."""
    result = solve(p, PARAMS)
    assert result.status.value == "OPTIMAL"
    assert_optimal(p, result)


@EXACT
@given(instances(exact=True, objective=Objective.POVERTY_FIRST))
def test_poverty_first_exact_path_matches_milp(p):
    """Two CP-SAT stages reach the two-stage MILP's lexicographic optimum."""
    result = solve(p, PARAMS)
    assert result.status.value == "OPTIMAL"
    assert_optimal(p, result)


@st.composite
def networks(draw):
    """Transportation networks, often with far more supply than the orders take, weights
    with ties or spread wider than the presolve's levels, and some forced listings."""
    n, m = draw(st.integers(1, 12)), draw(st.integers(1, 4))
    pairs = [(i, j) for i in range(n) for j in range(m) if draw(st.integers(0, 3))]
    li = np.array([i for i, _ in pairs], np.int64)
    oi = np.array([j for _, j in pairs], np.int64)
    top = draw(st.sampled_from([3, 400, 10**9]))
    weight = np.array([draw(st.integers(0, top)) for _ in pairs], np.int64)
    supply = np.array([draw(st.integers(0, 50)) for _ in range(n)], np.int64)
    demand = np.array([draw(st.integers(0, draw(st.sampled_from([10, 60])))) for _ in range(m)])
    cap = np.array([draw(st.integers(0, 60)) for _ in pairs], np.int64)
    forced = np.array([draw(st.integers(0, 9)) == 0 for _ in range(n)], np.bool_)
    zeros = np.zeros(li.size, np.int64)
    arcs = Arcs(li, oi, zeros, zeros, zeros, cap, zeros.astype(float), *[zeros] * 4)
    net = Network(supply, demand.astype(np.int64), forced, np.zeros(m, np.bool_))
    use = np.array([draw(st.integers(0, 5)) > 0 for _ in pairs], np.bool_)
    return arcs, net, weight, use


def lp_value(arcs, net, weight, use) -> float | None:
    """max Σ weight·x over the arcs in ``use`` (HiGHS), forced listings selling out; None
    if infeasible."""
    at = np.flatnonzero(use)
    n, m = net.supply.size, net.demand.size
    rows_l, rows_o = np.zeros((n, at.size)), np.zeros((m, at.size))
    rows_l[arcs.listing[at], np.arange(at.size)] = 1
    rows_o[arcs.order[at], np.arange(at.size)] = 1
    free, forced = ~net.forced_listings, net.forced_listings
    if at.size == 0:
        return None if net.supply[forced].any() else 0.0
    result = linprog(
        -weight[at].astype(float),
        A_ub=np.vstack([rows_l[free], rows_o]),
        b_ub=np.concatenate([net.supply[free], net.demand]),
        A_eq=rows_l[forced] if forced.any() else None,
        b_eq=net.supply[forced] if forced.any() else None,
        bounds=np.stack([np.zeros(at.size), arcs.capacity[at]], axis=1),
        method="highs",
    )
    return -result.fun if result.status == 0 else None


@settings(max_examples=300, deadline=None)
@given(networks())
def test_presolve_drops_only_arcs_no_optimal_flow_uses(case):
    """Every arc the presolve drops has heavier arcs into its order that carry the bound; the
    kept arcs reach the optimum of all of them (HiGHS), and so does the flow solved on them."""
    arcs, net, weight, use = case
    kept = needed_arcs(arcs, net, weight, use, worth_it=0)
    assert not (kept & ~use).any()
    carry = np.where(use, np.minimum(arcs.capacity, net.supply[arcs.listing]), 0)
    takes = np.minimum(net.demand, np.bincount(arcs.order, carry, net.demand.size))
    bound = min(takes.sum(), net.supply.sum())
    for a in np.flatnonzero(use & ~kept):
        i, j = arcs.listing[a], arcs.order[a]
        heavier = use & (arcs.order == j) & (weight > weight[a])
        assert carry[heavier].sum() >= bound and not net.forced_listings[i]
    event(f"dropped {'some' if (use & ~kept).any() else 'none'}")
    best = lp_value(arcs, net, weight, use)
    assert lp_value(arcs, net, weight, kept) == pytest.approx(best)
    if best is not None and not net.forced_listings.any():
        flow = max_value_flow(arcs, net, weight, use)
        assert not flow[~use].any()
        assert int(weight @ flow) == pytest.approx(best)


def test_presolve_drops_what_the_bound_rules_out():
    """Two orders take 10 kg in all: order 0's two heaviest arcs carry 12 kg, which rules out
    its two lighter ones; order 1's one arc stays."""
    li = np.array([0, 1, 2, 3, 3], np.int64)
    oi = np.array([0, 0, 0, 0, 1], np.int64)
    weight = np.array([9, 9, 5, 1, 4], np.int64)
    zeros = np.zeros(5, np.int64)
    cap = np.array([6, 6, 6, 6, 6], np.int64)
    arcs = Arcs(li, oi, zeros, zeros, zeros, cap, zeros.astype(float), *[zeros] * 4)
    net = Network(np.full(4, 8), np.array([6, 4]), np.zeros(4, np.bool_), np.zeros(2, np.bool_))
    everything = np.ones(5, np.bool_)
    kept = needed_arcs(arcs, net, weight, everything, worth_it=0)
    assert kept.tolist() == [True, True, False, False, True]
    assert needed_arcs(arcs, net, weight, everything).tolist() == kept.tolist()  # 2 of 5
    assert needed_arcs(arcs, net, weight, everything, worth_it=0.5).all()  # not worth it
