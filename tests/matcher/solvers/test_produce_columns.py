"""The produce problem as columns: validated like ProduceProblem, and solved alike.

Each bad value is given twice, once to ProduceProblem's objects and once to the columns: the
vectorised checks must name the same field with the same description. A request's conversion
(matcher.service.convert_produce) must name the request's field, the lowest index first.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import convert_produce as convert
from matcher.solvers.common.solving import Objective
from matcher.solvers.produce import (
    InvalidProduceProblem,
    Lane,
    PovertyClass,
    ProduceColumns,
    ProduceProblem,
    TransportConfig,
    as_columns,
    greedy,
    solve,
)
from registry.errors import InvalidArgument
from tests.matcher.solvers.test_produce_factories import TODAY, days, listing, order


def base() -> dict[str, Any]:
    listings = [
        listing(f"L{i}", poverty=PovertyClass(i % 5), quantity_kg=100 + 7 * i, lat=23.5 + i / 20)
        for i in range(6)
    ]
    orders = [order(f"O{j}", max_quantity_kg=150, lng=116 + j / 10) for j in range(3)]
    lanes = {("L1", "O2"): Lane(cost_fen_per_kg=3, transit_days=1)}
    return {
        "listings": tuple(listings),
        "orders": tuple(orders),
        "today": TODAY,
        "transport": TransportConfig(lanes=lanes),
    }


def error_of(make: Any) -> tuple[str, str]:
    with pytest.raises(InvalidProduceProblem) as caught:
        make()
    return caught.value.field, caught.value.description


def listing_at(parts: dict[str, Any], i: int, **changes: Any) -> dict[str, Any]:
    listings = list(parts["listings"])
    listings[i] = dataclasses.replace(listings[i], **changes)
    return {**parts, "listings": tuple(listings)}


def order_at(parts: dict[str, Any], j: int, **changes: Any) -> dict[str, Any]:
    orders = list(parts["orders"])
    orders[j] = dataclasses.replace(orders[j], **changes)
    return {**parts, "orders": tuple(orders)}


def with_column(columns: ProduceColumns, table: str, name: str, k: int, value: Any) -> Any:
    """The columns with entry k of one column changed (a copy)."""
    rows = getattr(columns, table)
    column = np.array(getattr(rows, name))
    column[k] = value
    changed = dataclasses.replace(rows, **{name: column})
    return lambda: dataclasses.replace(columns, **{table: changed})


@pytest.mark.parametrize(
    ("objects", "table", "name", "k", "value"),
    [
        (lambda p: listing_at(p, 2, quantity_kg=-5), "listings", "quantity", 2, -5),
        (lambda p: listing_at(p, 4, floor_price_fen=10**10), "listings", "floor", 4, 10**10),
        (lambda p: listing_at(p, 1, lat=95.0), "listings", "lat", 1, 95.0),
        (lambda p: listing_at(p, 3, lng=math.nan), "listings", "lng", 3, math.nan),
        (
            lambda p: listing_at(p, 5, available_from=days(30)),
            "listings",
            "available_from",
            5,
            days(30).toordinal(),
        ),
        (lambda p: order_at(p, 1, min_quantity_kg=200), "orders", "min_q", 1, 200),
        (lambda p: order_at(p, 2, price_fen=-1), "orders", "price", 2, -1),
        (lambda p: order_at(p, 0, max_distance_km=-3.0), "orders", "max_km", 0, -3.0),
    ],
)
def test_columns_name_the_field_problem_names(objects, table, name, k, value):
    parts = base()
    expected = error_of(lambda: ProduceProblem(**objects(parts)))
    columns = as_columns(ProduceProblem(**parts))
    assert error_of(with_column(columns, table, name, k, value)) == expected


def test_the_lowest_index_is_named_first():
    """Two bad listings: both forms name the lower one, whatever its field."""
    parts = listing_at(listing_at(base(), 4, quantity_kg=-1), 2, lat=-91.0)
    expected = error_of(lambda: ProduceProblem(**parts))
    assert expected[0] == "listings[2].lat"
    columns = as_columns(ProduceProblem(**base()))
    quantity, lat = columns.listings.quantity.copy(), columns.listings.lat.copy()
    quantity[4], lat[2] = -1, -91.0
    bad = dataclasses.replace(columns.listings, quantity=quantity, lat=lat)
    assert error_of(lambda: dataclasses.replace(columns, listings=bad)) == expected


def test_bad_shares_ids_and_lanes_are_named_alike():
    parts = base()
    columns = as_columns(ProduceProblem(**parts))
    half = ((PovertyClass.IMPOVERISHED, 0.5),)
    bad_shares = listing_at(parts, 3, shares=half)
    kinds = (*columns.share_kinds, half)
    codes = columns.listings.shares.copy()
    codes[3] = len(kinds) - 1
    shares = dataclasses.replace(columns.listings, shares=codes)
    assert error_of(lambda: ProduceProblem(**bad_shares)) == error_of(
        lambda: dataclasses.replace(columns, listings=shares, share_kinds=kinds)
    )
    duplicate = listing_at(parts, 4, id="L1")
    ids = list(columns.listings.id)
    ids[4] = "L1"
    renamed = dataclasses.replace(columns.listings, id=ids)
    assert error_of(lambda: ProduceProblem(**duplicate)) == error_of(
        lambda: dataclasses.replace(columns, listings=renamed)
    )
    lanes = {("L1", "O2"): Lane(cost_fen_per_kg=-2, transit_days=1)}
    bad_lane = {**parts, "transport": TransportConfig(lanes=lanes)}
    lane_columns = dataclasses.replace(columns.lanes, cost=np.array([-2]))
    assert error_of(lambda: ProduceProblem(**bad_lane)) == error_of(
        lambda: dataclasses.replace(columns, lanes=lane_columns)
    )


@pytest.mark.parametrize("goal", list(Objective))
def test_columns_solve_as_the_objects_do(goal):
    """The same answer from objects and from their columns, field for field."""
    problem = ProduceProblem(**base(), objective=goal)
    for run in (solve, greedy):
        a, b = run(problem), run(as_columns(problem))
        assert (a.objective, a.allocations, a.unsold, a.orders, a.kpis) == (
            b.objective,
            b.allocations,
            b.unsold,
            b.orders,
            b.kpis,
        )


def request() -> mpb.ProduceProblem:
    listings = [
        mpb.InlineListing(
            id=f"L{i}",
            product="green_plum",
            grade="A",
            quantity_kg=100,
            floor_price_fen=100,
            location={"latitude": 23.7, "longitude": 117.2},
            available_from="2020-05-01",
            available_until="2020-06-30",
            shelf_life_days=10,
            shares=[mpb.PovertyShare(poverty_class=mpb.IMPOVERISHED, share_permille=1000)],
        )
        for i in range(8)
    ]
    orders = [
        mpb.InlineOrder(
            id="O1",
            product="green_plum",
            accepted_grades=["A"],
            max_quantity_kg=500,
            price_fen=300,
            location={"latitude": 23.3, "longitude": 116.2},
            deliver_by="2020-07-31",
        )
    ]
    return mpb.ProduceProblem(listings=listings, orders=orders, today="2020-05-10")


def violation(p: mpb.ProduceProblem) -> str:
    with pytest.raises(InvalidArgument) as caught:
        convert.inline_problem(p, Objective.WELFARE)
    (v,) = caught.value.violations
    return v.field


def test_a_request_names_its_own_fields():
    p = request()
    p.listings[5].quantity_kg = -1
    p.listings[6].location.latitude = 99
    assert violation(p) == "inline.listings[5].quantity_kg"
    p = request()
    p.listings[6].available_until = "2020-6-30"
    p.listings[2].available_from = "May 1st"
    assert violation(p) == "inline.listings[2].available_from"
    p = request()
    p.listings[3].shares[0].poverty_class = 42  # type: ignore[assignment]
    assert violation(p) == "inline.listings[3].shares[0].poverty_class"
    p = request()
    p.listings[7].location.longitude = 181
    assert violation(p) == "inline.listings[7].location.longitude"
    p = request()
    p.orders[0].deliver_by = "2020-02-30"
    assert violation(p) == "inline.orders[0].deliver_by"
    p = request()
    p.lanes.add(listing_id="L1", order_id="O9", cost_fen_per_kg=1)
    assert violation(p) == "inline.lanes"


def test_a_request_converts_to_the_problem_its_objects_make():
    """Mixed shares (cooperatives), two grades and a lane: the columns the objects give."""
    p = request()
    p.listings[1].grade = "B"
    del p.listings[4].shares[:]
    p.listings[4].shares.add(poverty_class=mpb.AT_RISK, share_permille=400)
    p.listings[4].shares.add(poverty_class=mpb.NOT_POOR, share_permille=600)
    del p.listings[5].shares[:]
    p.lanes.add(listing_id="L2", order_id="O1", cost_fen_per_kg=4, transit_days=2)
    got = convert.inline_problem(p, Objective.POVERTY_FIRST)
    shares = [got.share_kinds[k] for k in got.listings.shares]
    assert shares[4] == ((PovertyClass.AT_RISK, 0.4), (PovertyClass.NOT_POOR, 0.6))
    assert shares[5] == ((PovertyClass.NOT_POOR, 1.0),)
    assert shares[0] == ((PovertyClass.IMPOVERISHED, 1.0),)
    assert [got.grades[g] for g in got.listings.grade][:3] == ["A", "B", "A"]
    assert got.orders.accepts.tolist() == [[True, False]]
    assert got.listings.available_from.tolist() == [days(-9).toordinal()] * 8
    assert (got.lanes.listing.tolist(), got.lanes.cost.tolist()) == ([2], [4])
    assert np.isinf(got.orders.max_km).all()
    sold = {a.listing_id for a in solve(got).allocations}
    assert sold and sold <= {f"L{i}" for i in range(8)}


def test_columns_compare_by_value():
    """Two conversions of one problem are equal, and a changed entry makes them differ."""
    problem = ProduceProblem(**base())
    a, b = as_columns(problem), as_columns(problem)
    assert a == b
    first, second = solve(a), solve(b)
    assert first == dataclasses.replace(second, timings=first.timings)
    assert with_column(a, "listings", "quantity", 0, 1)() != a
