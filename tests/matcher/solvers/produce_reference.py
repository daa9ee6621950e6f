"""The reference for produce optimality tests: an independent MILP (scipy / HiGHS) over the
raw problem, a feasibility check, and hypothesis instances.

The reference reads the raw problem (its own haversine, rules and rounding as the design
states them), never the module's arc arrays, and is solved with ``mip_rel_gap = 0``.
"""

from __future__ import annotations

import datetime
import itertools
import math
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from matcher.solvers.common.solving import Objective, SolveParams
from matcher.solvers.produce import (
    Lane,
    Listing,
    Order,
    PovertyClass,
    ProduceProblem,
    ProduceResult,
    TransportConfig,
    household,
)

TODAY = datetime.date(2020, 5, 10)
PARAMS = SolveParams(workers=1, time_limit_s=20)


# --- the reference model ------------------------------------------------------------------


def haversine_km(lat1, lng1, lat2, lng2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(min(h, 1.0)))


@dataclass
class RefArc:
    i: int
    j: int
    margin: int  # price − transport − floor
    bonus: int
    poor: int  # basis points
    lot: int
    fixed: int
    truck: int  # kg per truck, or the listing quantity when the lane has none


def bonus_of(x: Listing, p: ProduceProblem) -> int:
    return math.floor(sum(f * p.bonus.per_kg(c) for c, f in x.shares) + 0.5)


def poor_of(x: Listing) -> int:
    share = sum(f for c, f in x.shares if c in (PovertyClass.IMPOVERISHED, PovertyClass.AT_RISK))
    return math.floor(share * 10_000 + 0.5)


def ref_arcs(p: ProduceProblem) -> list[RefArc]:
    t, out = p.transport, []
    for (i, x), (j, o) in itertools.product(enumerate(p.listings), enumerate(p.orders)):
        if x.product != o.product or x.grade not in o.accepted_grades:
            continue
        km = haversine_km(x.lat, x.lng, o.lat, o.lng) * t.road_factor
        lane = t.lanes.get((x.id, o.id), Lane(-1, -1))
        cost = (
            lane.cost_fen_per_kg
            if lane.transit_days >= 0
            else math.ceil(km * t.rate_fen_per_tonne_km / 1000 - 1e-6)
        )
        transit = (
            lane.transit_days
            if lane.transit_days >= 0
            else math.ceil(km / t.speed_km_per_day - 1e-9)
        )
        leave = max(p.today, x.available_from)
        if (
            o.price_fen - cost < x.floor_price_fen
            or transit > x.shelf_life_days
            or leave > x.available_until
            or leave + datetime.timedelta(days=transit) > o.deliver_by
            or (o.max_distance_km is not None and km > o.max_distance_km)
        ):
            continue
        truck = lane.truck_capacity_kg or max(x.quantity_kg, 1)
        margin = o.price_fen - cost - x.floor_price_fen
        out.append(
            RefArc(
                i,
                j,
                margin,
                bonus_of(x, p),
                poor_of(x),
                max(lane.min_lot_kg, 0),
                max(lane.fixed_cost_fen, 0),
                truck,
            )
        )
    return out


def ref_solve(p, objective, sell=None):
    """Optimal (priority bp·kg, value) under ``objective``; None if infeasible.

    Variables: x per arc, trucks per arc, a lot switch per arc, a min switch per order.
    ``sell`` = listing index that must sell at least 1 kg.
    """
    arcs = ref_arcs(p)
    a, m = len(arcs), len(p.orders)
    nv = 3 * a + m  # x, trucks, lot switch, order switch
    rows, lo, hi = [], [], []

    def row(coefs, lower, upper):
        r = np.zeros(nv)
        for k, c in coefs:
            r[k] += c
        rows.append(r)
        lo.append(lower)
        hi.append(upper)

    for i, x in enumerate(p.listings):
        row([(k, 1) for k, e in enumerate(arcs) if e.i == i], -np.inf, x.quantity_kg)
    for j, o in enumerate(p.orders):
        ks = [k for k, e in enumerate(arcs) if e.j == j]
        row([(k, 1) for k in ks] + [(3 * a + j, -o.max_quantity_kg)], -np.inf, 0)
        row([(k, 1) for k in ks] + [(3 * a + j, -o.min_quantity_kg)], 0, np.inf)
    for k, e in enumerate(arcs):
        big = p.listings[e.i].quantity_kg
        row([(k, 1), (2 * a + k, -big)], -np.inf, 0)
        row([(k, 1), (2 * a + k, -e.lot)], 0, np.inf)
        if e.fixed:
            row([(k, 1), (a + k, -e.truck)], -np.inf, 0)
    if sell is not None:
        row([(k, 1) for k, e in enumerate(arcs) if e.i == sell], 1, np.inf)
    upper = [p.listings[e.i].quantity_kg for e in arcs] * 3 + [1] * m
    upper[a : 2 * a] = [
        math.ceil(p.listings[e.i].quantity_kg / e.truck) if e.fixed else 0 for e in arcs
    ]
    upper[2 * a : 3 * a] = [1] * a
    bounds = Bounds(np.zeros(nv), np.array(upper, float))
    bonus = objective is Objective.WELFARE
    value = np.zeros(nv)
    for k, e in enumerate(arcs):
        value[k] = e.margin + (e.bonus if bonus else 0)
        value[a + k] = -e.fixed
    poor = np.zeros(nv)
    poor[:a] = [e.poor for e in arcs]

    def best(c, extra=()):
        cons = (
            [
                LinearConstraint(
                    np.array(rows + [r for r, _ in extra]).reshape(-1, nv),
                    lo + [b for _, b in extra],
                    hi + [np.inf] * len(extra),
                )
            ]
            if rows or extra
            else []
        )
        res = milp(
            -c, constraints=cons, integrality=np.ones(nv), bounds=bounds, options={"mip_rel_gap": 0}
        )
        return None if res.status != 0 else round(-res.fun)

    if objective is Objective.WELFARE:
        v = best(value)
        return None if v is None else (None, v)
    p1 = best(poor)
    if p1 is None:
        return None
    return p1, best(value, [(poor, p1)])


# --- checking a module result -------------------------------------------------------------


def check_feasible(p: ProduceProblem, result: ProduceResult) -> tuple[int, int]:
    """Every allocation on a reference arc and within every limit; returns (priority, value)."""
    arcs = {(p.listings[e.i].id, p.orders[e.j].id): e for e in ref_arcs(p)}
    by_listing, by_order = {}, {}
    poor = value = 0
    for al in result.allocations:
        e = arcs[al.listing_id, al.order_id]
        assert al.kg >= max(e.lot, 1)
        if e.fixed:
            assert al.trucks * e.truck >= al.kg
        by_listing[al.listing_id] = by_listing.get(al.listing_id, 0) + al.kg
        by_order[al.order_id] = by_order.get(al.order_id, 0) + al.kg
        bonus = e.bonus if p.objective is Objective.WELFARE else 0
        value += al.kg * (e.margin + bonus) - al.trucks * e.fixed
        poor += al.kg * e.poor
    for x in p.listings:
        assert by_listing.get(x.id, 0) <= x.quantity_kg
    for o in p.orders:
        assert by_order.get(o.id, 0) in {0, *range(o.min_quantity_kg, o.max_quantity_kg + 1)}
    assert value == result.objective
    return poor, value


def assert_optimal(p: ProduceProblem, result: ProduceResult) -> None:
    event(f"{result.method}, {'some' if result.allocations else 'no'} allocations")
    poor, value = check_feasible(p, result)
    expected = ref_solve(p, p.objective)
    if p.objective is Objective.POVERTY_FIRST:
        assert (poor, value) == expected
        assert result.priority_kg_bound == result.kpis.priority_kg_sold == poor / 10_000
    else:
        assert value == expected[1]


# --- random instances ---------------------------------------------------------------------

SHARES = st.one_of(
    st.sampled_from(list(PovertyClass)).map(household),
    st.tuples(
        st.sampled_from(list(PovertyClass)), st.sampled_from(list(PovertyClass)), st.integers(1, 3)
    ).map(lambda t: ((t[0], t[2] / 4), (t[1], 1 - t[2] / 4))),
)


PRODUCTS = st.sampled_from(["plum"] * 5 + ["tea"])


@st.composite
def instances(draw, exact: bool, objective: Objective | None = None):
    """Up to 5 listings × 3 orders near Zhao'an. ``exact`` adds minimum order quantities,
    minimum lots and fixed costs, on friendlier data (one product, wide windows) so that
    most instances really exercise them; otherwise half the instances are friendly."""
    friendly = exact or draw(st.booleans())
    products = st.just("plum") if friendly else PRODUCTS
    n, m = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    listings = tuple(
        Listing(
            f"L{i}",
            draw(products),
            draw(st.sampled_from("AB")),
            draw(st.integers(0, 30)),
            draw(st.integers(0, 150 if friendly else 200)),
            23 + draw(st.integers(0, 150)) / 100,
            116 + draw(st.integers(0, 150)) / 100,
            TODAY + datetime.timedelta(draw(st.integers(-3, 3))),
            TODAY + datetime.timedelta(draw(st.integers(3, 8))),
            draw(st.sampled_from([1, 2, 3] if friendly else [0, 1, 1, 2, 3, 5])),
            draw(SHARES),
        )
        for i in range(n)
    )
    orders = []
    for j in range(m):
        low = draw(st.integers(0, 40)) if exact and draw(st.booleans()) else 0
        grades = (
            st.just(frozenset("AB"))
            if friendly
            else st.frozensets(st.sampled_from("AB"), min_size=1)
        )
        limit = st.none() if friendly else st.one_of(st.none(), st.integers(50, 300).map(float))
        orders.append(
            Order(
                f"O{j}",
                draw(products),
                draw(grades),
                low,
                draw(st.integers(low, 40)),
                draw(st.integers(100, 400)),
                23 + draw(st.integers(0, 150)) / 100,
                116 + draw(st.integers(0, 150)) / 100,
                TODAY + datetime.timedelta(draw(st.integers(4 if friendly else 0, 8))),
                draw(limit),
            )
        )
    lanes = {}
    for x, o in itertools.product(listings, orders):
        if draw(st.integers(0, 3)) < (2 if exact else 1):
            lot = draw(st.integers(0, 20)) if exact else 0
            fixed = draw(st.sampled_from([0, 0, 50, 200, 500])) if exact else 0
            truck = draw(st.one_of(st.none(), st.integers(5, 20)))
            lanes[x.id, o.id] = Lane(
                draw(st.integers(0, 60)), draw(st.integers(0, 3)), lot, fixed, truck
            )
    rate = draw(st.sampled_from([45, 150, 300]))
    return ProduceProblem(
        listings=listings,
        orders=tuple(orders),
        today=TODAY,
        transport=TransportConfig(rate_fen_per_tonne_km=rate, lanes=lanes),
        objective=objective or draw(st.sampled_from(list(Objective))),
    )


FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXACT = settings(max_examples=90, deadline=None, suppress_health_check=[HealthCheck.too_slow])
