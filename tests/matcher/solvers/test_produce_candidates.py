"""k-nearest candidate orders for large produce problems, against a brute-force ranking."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from matcher.service.jobs import ProduceJob, sparsified
from matcher.solvers.common.geo import great_circle_km
from matcher.solvers.produce import Lane, ProduceProblem, TransportConfig, as_columns
from matcher.solvers.produce.candidates import nearest_orders
from tests.matcher.solvers.test_produce_factories import TODAY, listing, order


def scattered(seed: int, n_listings: int, n_orders: int):
    rng = random.Random(seed)
    products = ["green_plum", "tea"]
    listings = [
        listing(
            f"L{i}",
            product=rng.choice(products),
            lat=rng.uniform(22, 26),
            lng=rng.uniform(114, 119),
        )
        for i in range(n_listings)
    ]
    orders = [
        order(
            f"O{j}",
            product=rng.choice(products),
            lat=rng.uniform(22, 26),
            lng=rng.uniform(114, 119),
        )
        for j in range(n_orders)
    ]
    return listings, orders


def nearest(listings, orders, k):
    problem = ProduceProblem(listings=tuple(listings), orders=tuple(orders), today=TODAY)
    return nearest_orders(as_columns(problem), k=k)


def test_each_listing_gets_its_k_nearest_same_product_orders():
    """The pairs are exactly each listing's k nearest orders of its product (brute force)."""
    for seed, n, m, k in [(7, 40, 25, 4), (11, 600, 300, 30)]:
        listings, orders = scattered(seed, n, m)
        li, oi = nearest(listings, orders, k)
        got: dict[int, set[int]] = {}
        for i, j in zip(li.tolist(), oi.tolist(), strict=True):
            got.setdefault(i, set()).add(j)
        for i, x in enumerate(listings):
            same = [j for j, o in enumerate(orders) if o.product == x.product]
            km = {
                j: float(great_circle_km(x.lat, x.lng, orders[j].lat, orders[j].lng)) for j in same
            }
            expected = set(sorted(same, key=km.__getitem__)[:k])
            assert got.get(i, set()) == expected


def test_pairs_come_sorted_by_listing_then_order():
    """The arc builder takes the pairs as they come when they are sorted and distinct."""
    listings, orders = scattered(2, 300, 90)
    li, oi = nearest(listings, orders, 7)
    keys = li * len(orders) + oi
    assert (np.diff(keys) > 0).all()
    assert len(keys) == 300 * 7


def test_fewer_orders_than_k_gives_all_of_them():
    """With k above the number of same-product orders, every such order is a candidate."""
    listings, orders = scattered(3, 5, 6)
    li, oi = nearest(listings, orders, 50)
    pairs = set(zip(li.tolist(), oi.tolist(), strict=True))
    expected = {
        (i, j)
        for i, x in enumerate(listings)
        for j, o in enumerate(orders)
        if o.product == x.product
    }
    assert pairs == expected


def test_small_problems_stay_dense_unless_asked():
    """A small job keeps every pair; asking for k nearest restricts it."""
    listings, orders = scattered(5, 10, 8)
    problem = as_columns(
        ProduceProblem(listings=tuple(listings), orders=tuple(orders), today=TODAY)
    )
    assert sparsified(ProduceJob(problem)).candidates is None
    li, oi = sparsified(ProduceJob(problem, orders_per_listing=2)).candidates
    assert np.bincount(li, minlength=10).max() <= 2
    assert len(li) == len(oi)


def test_pairs_screened_in_halves_give_the_arcs_of_one_block(monkeypatch):
    """Past SPLIT_PAIRS a sparse problem's pairs are screened in two halves on two threads:
    the arcs, their order and the screening behind the unsold reasons are those of one block
    (two products, floors and grades that block some pairs, distance limits, short shelf lives)."""
    from matcher.solvers.produce import arcs as arcs_module

    rng = random.Random(5)
    listings, orders = scattered(5, 900, 120)
    listings = [
        dataclasses.replace(
            x,
            grade=rng.choice("AB"),
            floor_price_fen=rng.randint(50, 300),
            shelf_life_days=rng.randint(0, 3),
        )
        for x in listings
    ]
    orders = [
        dataclasses.replace(
            o,
            accepted_grades=frozenset(rng.sample("AB", rng.randint(1, 2))),
            max_distance_km=rng.choice([0.0, 150.0, 400.0]),
        )
        for o in orders
    ]
    problem = ProduceProblem(listings=tuple(listings), orders=tuple(orders), today=TODAY)
    columns = sparsified(ProduceJob(as_columns(problem), orders_per_listing=12))
    whole = arcs_module.build_arcs(columns)
    monkeypatch.setattr(arcs_module, "SPLIT_PAIRS", 100)
    halves = arcs_module.build_arcs(columns)
    assert len(arcs_module._blocks(columns, halves[2])) == 2
    assert whole[0].size == halves[0].size > 0
    for name in arcs_module._ARC_FIELDS:
        assert np.array_equal(getattr(whole[0], name), getattr(halves[0], name)), name
    for a, b in zip(dataclasses.astuple(whole[1]), dataclasses.astuple(halves[1]), strict=True):
        assert np.array_equal(a, b)
    assert whole[1].blocked_listing.size > 0  # floors did block pairs


@pytest.mark.parametrize("sparse", [True, False])
def test_blocks_with_and_without_lanes_give_the_arcs_of_one_block(monkeypatch, sparse):
    """Blocks write their arcs straight into the joined columns: when only the first block
    has lanes (minimum lots, fixed costs, trucks, a cost some pairs cannot pay), the others'
    lane columns stay zero and every column equals the one-block build's, sparse halves
    (SPLIT_PAIRS) and dense chunks (BLOCK_PAIRS) alike."""
    from matcher.solvers.produce import arcs as arcs_module

    listings, orders = scattered(9, 400, 60)
    lanes = {
        (x.id, o.id): Lane(
            cost_fen_per_kg=5 + (i * 7 + j) % 400,
            transit_days=1 + j % 3,
            min_lot_kg=100 * (j % 4),
            fixed_cost_fen=50 * j,
            truck_capacity_kg=(1_000 if j % 2 else None),
        )
        for i, x in enumerate(listings[:15])
        for j, o in enumerate(orders)
    }
    columns = as_columns(
        ProduceProblem(
            listings=tuple(listings),
            orders=tuple(orders),
            today=TODAY,
            transport=TransportConfig(lanes=lanes),
        )
    )
    if sparse:
        columns = sparsified(ProduceJob(columns, orders_per_listing=10))
    whole = arcs_module.build_arcs(columns)
    monkeypatch.setattr(arcs_module, "SPLIT_PAIRS", 100)
    monkeypatch.setattr(arcs_module, "BLOCK_PAIRS", 3_000)
    parts = arcs_module.build_arcs(columns)
    assert len(arcs_module._blocks(columns, parts[2])) > 2 - sparse
    assert whole[0].size == parts[0].size > 0
    for name in arcs_module._ARC_FIELDS:
        assert np.array_equal(getattr(whole[0], name), getattr(parts[0], name)), name
    for a, b in zip(dataclasses.astuple(whole[1]), dataclasses.astuple(parts[1]), strict=True):
        assert np.array_equal(a, b)
    laned = whole[0].listing < 15
    assert whole[0].fixed_cost[laned].any() and not whole[0].fixed_cost[~laned].any()
    assert whole[0].size < len(listings) * (10 if sparse else len(orders) / 2)  # some blocked


def test_a_listings_run_of_arcs_is_all_its_arcs():
    """Arcs.runs finds each listing's arcs as one run; arcs_of gives the arcs of the runs
    asked for, run after run, as a mask of their listings over every arc would."""
    from matcher.solvers.produce.arcs import build_arcs

    listings, orders = scattered(7, 300, 60)
    columns = sparsified(
        ProduceJob(
            as_columns(ProduceProblem(listings=tuple(listings), orders=tuple(orders), today=TODAY)),
            orders_per_listing=9,
        )
    )
    arcs = build_arcs(columns)[0]
    runs = arcs.runs
    assert runs.listing.size == np.unique(arcs.listing).size > 200  # one run per listing
    assert runs.length.sum() == arcs.size
    rng = np.random.default_rng(7)
    for picked in (np.arange(0), np.sort(rng.choice(runs.listing.size, 50, replace=False))):
        a, starts = runs.arcs_of(picked)
        assert np.array_equal(a, np.flatnonzero(np.isin(arcs.listing, runs.listing[picked])))
        assert np.array_equal(arcs.listing[a[starts]], runs.listing[picked])
        assert np.array_equal(np.diff(np.r_[starts, a.size]), runs.length[picked])
