"""Each produce rule as a satisfied / violated pair of tiny instances, plus the poverty tilt."""

from __future__ import annotations

import pytest

from matcher.solvers.common.solving import Objective, SolveParams, SolveStatus
from matcher.solvers.produce import InvalidProduceProblem, Lane, PovertyClass, UnsoldReason, solve
from tests.matcher.solvers.test_produce_factories import (
    TRANSPORT_FEN,
    days,
    listing,
    order,
    problem,
    shipped,
    sold,
)

IMPOVERISHED = PovertyClass.IMPOVERISHED
PARAMS = SolveParams(workers=1, time_limit_s=10)


def reason(result, listing_id="L1"):
    (unsold,) = [u for u in result.unsold if u.listing_id == listing_id]
    return unsold.reason


def test_same_product_sells():
    """Satisfied: a green plum listing sells to a green plum order."""
    assert sold(solve(problem([listing()], [order()])), "L1") == 100


def test_other_product_has_no_compatible_order():
    """Violated: tea is not plums."""
    result = solve(problem([listing(product="tea")], [order()]))
    assert sold(result, "L1") == 0
    assert reason(result) is UnsoldReason.NO_COMPATIBLE_ORDER


def test_accepted_grade_sells():
    """Satisfied: grade B is among the accepted grades."""
    assert sold(solve(problem([listing(grade="B")], [order()])), "L1") == 100


def test_unaccepted_grade_has_no_compatible_order():
    """Violated: grade C is not accepted."""
    result = solve(problem([listing(grade="C")], [order()]))
    assert reason(result) is UnsoldReason.NO_COMPATIBLE_ORDER


def test_floor_equal_to_net_price_sells():
    """Satisfied: floor = price − transport exactly (the bonus makes selling worth it)."""
    floor = 300 - TRANSPORT_FEN
    result = solve(problem([listing(floor_price_fen=floor, poverty=IMPOVERISHED)], [order()]))
    assert sold(result, "L1") == 100
    assert result.allocations[0].total_fen == 100 * 60


def test_floor_above_net_price_does_not_sell():
    """Violated: one fen above the net price; it would sell at the net price."""
    floor = 300 - TRANSPORT_FEN + 1
    result = solve(problem([listing(floor_price_fen=floor, poverty=IMPOVERISHED)], [order()]))
    (unsold,) = result.unsold
    assert unsold.reason is UnsoldReason.FLOOR_ABOVE_NET_PRICE
    assert unsold.would_sell_at_floor_fen == 300 - TRANSPORT_FEN


def test_shelf_life_covering_transit_sells():
    """Satisfied: one day in transit, one day of shelf life."""
    assert sold(solve(problem([listing(shelf_life_days=1)], [order()])), "L1") == 100


def test_shelf_life_shorter_than_transit_does_not_sell():
    """Violated: zero days of shelf life for a one-day journey."""
    result = solve(problem([listing(shelf_life_days=0)], [order()]))
    assert reason(result) is UnsoldReason.BEYOND_SHELF_LIFE_OR_DISTANCE


def test_arrival_by_deliver_by_sells():
    """Satisfied: available in 3 days, one day in transit, due in 4."""
    result = solve(problem([listing(available_from=days(3))], [order(deliver_by=days(4))]))
    assert sold(result, "L1") == 100


def test_arrival_after_deliver_by_does_not_sell():
    """Violated: available in 3 days, due in 3."""
    result = solve(problem([listing(available_from=days(3))], [order(deliver_by=days(3))]))
    assert reason(result) is UnsoldReason.BEYOND_SHELF_LIFE_OR_DISTANCE


def test_expired_listing_does_not_sell():
    """Violated: the availability window closed yesterday."""
    expired = listing(available_from=days(-9), available_until=days(-1))
    assert (
        reason(solve(problem([expired], [order()]))) is UnsoldReason.BEYOND_SHELF_LIFE_OR_DISTANCE
    )


def test_within_distance_limit_sells():
    """Satisfied: 144.6 road km against a 150 km limit."""
    assert sold(solve(problem([listing()], [order(max_distance_km=150)])), "L1") == 100


def test_beyond_distance_limit_does_not_sell():
    """Violated: 144.6 road km against a 140 km limit."""
    result = solve(problem([listing()], [order(max_distance_km=140)]))
    assert reason(result) is UnsoldReason.BEYOND_SHELF_LIFE_OR_DISTANCE


def test_min_order_quantity_met_fills_order():
    """Satisfied: two 100 kg listings reach the 150 kg minimum together."""
    result = solve(
        problem([listing("L1"), listing("L2")], [order(min_quantity_kg=150, max_quantity_kg=200)]),
        PARAMS,
    )
    assert sum(shipped(result).values()) == 200
    assert result.status is SolveStatus.OPTIMAL


def test_min_order_quantity_unmet_ships_nothing():
    """Violated: 100 kg can't reach a 150 kg minimum, so the order gets nothing at all."""
    result = solve(problem([listing()], [order(min_quantity_kg=150, max_quantity_kg=200)]), PARAMS)
    assert result.allocations == ()
    assert result.orders[0].filled_kg == 0


def test_min_lot_met_ships():
    """Satisfied: 60 kg on a lane with a 60 kg minimum lot."""
    lanes = {("L1", "O1"): Lane(cost_fen_per_kg=7, transit_days=1, min_lot_kg=60)}
    result = solve(problem([listing(quantity_kg=60)], [order()], lanes), PARAMS)
    assert shipped(result) == {("L1", "O1"): 60}


def test_min_lot_unmet_ships_nothing():
    """Violated: 50 kg on a lane with a 60 kg minimum lot."""
    lanes = {("L1", "O1"): Lane(cost_fen_per_kg=7, transit_days=1, min_lot_kg=60)}
    result = solve(problem([listing(quantity_kg=50)], [order()], lanes), PARAMS)
    assert result.allocations == ()


def test_fixed_cost_covered_ships_with_trucks():
    """Satisfied: 100 kg at 30 fen margin pays for two 50 kg trucks at 1,000 fen each."""
    lanes = {("L1", "O1"): Lane(7, 1, fixed_cost_fen=1_000, truck_capacity_kg=50)}
    result = solve(problem([listing(floor_price_fen=263)], [order()], lanes), PARAMS)
    (allocation,) = result.allocations
    assert (allocation.kg, allocation.trucks, allocation.fixed_cost_fen) == (100, 2, 2_000)
    assert result.objective == 100 * 30 - 2_000


def test_fixed_cost_not_covered_ships_nothing():
    """Violated: at 10 fen margin a 50 kg truck (500 fen) costs more than its 1,000 fen charge."""
    lanes = {("L1", "O1"): Lane(7, 1, fixed_cost_fen=1_000, truck_capacity_kg=50)}
    result = solve(problem([listing(floor_price_fen=283)], [order()], lanes), PARAMS)
    assert result.allocations == ()
    assert result.objective == 0


def test_fixed_cost_fills_whole_trucks_only_when_worth_it():
    """Satisfied: 120 kg at 30 fen/kg, 1,000 fen per 50 kg truck: the 20 kg third truck stays."""
    lanes = {("L1", "O1"): Lane(7, 1, fixed_cost_fen=1_000, truck_capacity_kg=50)}
    one = listing(floor_price_fen=263, quantity_kg=120)
    result = solve(problem([one], [order(max_quantity_kg=200)], lanes), PARAMS)
    assert shipped(result) == {("L1", "O1"): 100}


def test_lane_overrides_transport_cost_and_time():
    """Satisfied: an explicit lane's 20 fen and 3 days replace the 7 fen, 1 day estimate."""
    lanes = {("L1", "O1"): Lane(cost_fen_per_kg=20, transit_days=3)}
    (allocation,) = solve(problem([listing()], [order()], lanes)).allocations
    assert (allocation.transport_fen, allocation.transit_days) == (20, 3)


def test_impoverished_producer_sells_first():
    """Tilt: of two identical listings the order can take only one; the impoverished one wins."""
    for first, second in [
        (PovertyClass.NOT_POOR, IMPOVERISHED),
        (IMPOVERISHED, PovertyClass.NOT_POOR),
    ]:
        listings = [listing("A", poverty=first), listing("B", poverty=second)]
        result = solve(problem(listings, [order()]))
        poor_id = "A" if first is IMPOVERISHED else "B"
        assert shipped(result) == {(poor_id, "O1"): 100}


def test_poverty_first_differs_from_welfare():
    """WELFARE takes the near non-poor listing; POVERTY_FIRST the far impoverished one."""
    lanes = {("far", "O1"): Lane(100, 1), ("near", "O1"): Lane(7, 1)}
    listings = [listing("far", poverty=IMPOVERISHED), listing("near")]
    welfare = solve(problem(listings, [order()], lanes))
    first = solve(problem(listings, [order()], lanes, objective=Objective.POVERTY_FIRST))
    assert shipped(welfare) == {("near", "O1"): 100}  # 143 > 50 + 60 fen per kg
    assert shipped(first) == {("far", "O1"): 100}
    assert first.objective == 100 * 50 and first.kpis.priority_kg_sold == 100


def test_cooperative_bonus_is_share_weighted():
    """A cooperative half impoverished, half not poor earns half the bonus per kg."""
    shares = ((IMPOVERISHED, 0.5), (PovertyClass.NOT_POOR, 0.5))
    result = solve(problem([listing(shares=shares)], [order()]))
    assert result.allocations[0].bonus_fen == 30
    assert result.kpis.priority_kg_sold == 50


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: problem([listing(quantity_kg=-1)], [order()]), "listings[0].quantity_kg"),
        (
            lambda: problem([listing()], [order(min_quantity_kg=5, max_quantity_kg=4)]),
            "orders[0].min_quantity_kg",
        ),
        (lambda: problem([listing(), listing()], [order()]), "listings[1].id"),
        (lambda: problem([listing()], [order(), order()]), "orders[1].id"),
        (
            lambda: problem([listing()], [order()], {("L1", "nope"): Lane(1, 1)}),
            "transport.lanes['L1', 'nope']",
        ),
        (
            lambda: problem([listing(shares=((IMPOVERISHED, 0.7),))], [order()]),
            "listings[0].shares",
        ),
        (
            lambda: problem([listing(available_until=days(-10))], [order()]),
            "listings[0].available_until",
        ),
        (lambda: problem([listing()], [order(price_fen=-3)]), "orders[0].price_fen"),
    ],
)
def test_invalid_input_names_the_field(make, field):
    """Bad input raises a ValueError naming the offending field."""
    with pytest.raises(InvalidProduceProblem) as error:
        make()
    assert error.value.field == field
    assert isinstance(error.value, ValueError)
