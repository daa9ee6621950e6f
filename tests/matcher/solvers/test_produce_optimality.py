"""Produce optimality against an independent MILP (scipy / HiGHS): both paths, both
objectives, and the explanations (shadow prices, would-sell floors) checked by re-solving."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given

from matcher.solvers.common.solving import Objective
from matcher.solvers.produce import (
    ProduceProblem,
    solve,
)
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
