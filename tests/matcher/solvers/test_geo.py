"""Great-circle distances: known values, symmetry, broadcasting and the chord form; the k
nearest targets by groups of close points (common.nearest) against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matcher.solvers.common import nearest
from matcher.solvers.common.geo import (
    EARTH_RADIUS_KM,
    great_circle_km,
    great_circle_km_from_chord,
    haversine_m,
    unit_vectors,
)


def chord_km(lat1, lng1, lat2, lng2):
    p, q = unit_vectors(lat1, lng1), unit_vectors(lat2, lng2)
    return great_circle_km_from_chord(((p - q) ** 2).sum(axis=-1))


def test_beijing_to_shanghai():
    """Beijing → Shanghai is about 1,067 km as the crow flies."""
    assert great_circle_km(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(1067.3, abs=1)


def test_one_degree_of_latitude():
    """One degree along a meridian is R·π/180 ≈ 111.2 km."""
    assert great_circle_km(23.0, 117.0, 24.0, 117.0) == pytest.approx(
        EARTH_RADIUS_KM * math.pi / 180
    )


def test_same_point_is_zero_and_distance_is_symmetric():
    """d(a, a) = 0 exactly and d(a, b) = d(b, a), in both forms."""
    assert great_circle_km(23.7, 117.2, 23.7, 117.2) == 0.0
    assert chord_km(23.7, 117.2, 23.7, 117.2) == 0.0
    assert great_circle_km(23.7, 117.2, 23.3, 116.2) == great_circle_km(23.3, 116.2, 23.7, 117.2)


def test_antipodes_are_half_the_circumference():
    """Opposite points are π·R apart (no NaN from rounding)."""
    assert great_circle_km(10.0, 20.0, -10.0, -160.0) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    assert chord_km(10.0, 20.0, -10.0, -160.0) == pytest.approx(math.pi * EARTH_RADIUS_KM)


def test_broadcasts_listings_against_orders():
    """A column of 3 listings against a row of 2 orders gives a 3 × 2 matrix."""
    lat = np.array([[23.0], [23.5], [24.0]])
    d = great_circle_km(lat, 117.0, np.array([23.0, 24.0]), 117.0)
    assert d.shape == (3, 2)
    assert d[0, 0] == 0.0 and d[2, 1] == 0.0


def test_chord_form_matches_haversine_near_and_far():
    """The chord form agrees with haversine to 1e-9 relative, from 1 m to 10,000 km."""
    rng = np.random.default_rng(7)
    lat, lng = rng.uniform(-60, 60, 500), rng.uniform(-180, 180, 500)
    for offset in (1e-5, 1e-2, 1.0, 60.0):
        lat2, lng2 = np.clip(lat + offset, -90, 90), lng + offset
        expected = great_circle_km(lat, lng, lat2, lng2)
        np.testing.assert_allclose(chord_km(lat, lng, lat2, lng2), expected, rtol=1e-9, atol=1e-12)


def test_radians_form_agrees_with_the_degrees_form():
    """haversine_m (radians, precomputed cosines, broadcasting) = great_circle_km × 1000."""
    rng = np.random.default_rng(5)
    lat1, lat2 = rng.uniform(-80, 80, 50), rng.uniform(-80, 80, 40)
    lng1, lng2 = rng.uniform(-180, 180, 50), rng.uniform(-180, 180, 40)
    expected = great_circle_km(lat1[:, None], lng1[:, None], lat2[None, :], lng2[None, :])
    r = np.radians
    broadcast = haversine_m(r(lat1)[:, None], r(lng1)[:, None], r(lat2)[None, :], r(lng2)[None, :])
    np.testing.assert_allclose(broadcast, expected * 1000, rtol=1e-9, atol=1e-6)
    cos1, cos2 = np.cos(r(lat1[:40])), np.cos(r(lat2))
    paired = haversine_m(r(lat1[:40]), r(lng1[:40]), r(lat2), r(lng2), cos1, cos2)
    np.testing.assert_allclose(paired, np.diag(expected[:40]) * 1000, rtol=1e-9, atol=1e-6)


def cloud(rng: np.random.Generator, n: int, lat: float, lng: float, spread: float):
    """n points scattered around (lat, lng) degrees: (lat, lng, unit vectors)."""
    la, ln = rng.normal(lat, spread, n), rng.normal(lng, spread, n)
    return la, ln, unit_vectors(la, ln).reshape(-1, 3)


def brute_force(points, targets, k: int) -> list[set[int]]:
    """Each point's k nearest targets by haversine distance, over every pair."""
    (plat, plng, _), (tlat, tlng, _) = points, targets
    km = great_circle_km(plat[:, None], plng[:, None], tlat[None, :], tlng[None, :])
    return [set(row.tolist()) for row in np.argsort(km, axis=1, kind="stable")[:, :k]]


CASES = [
    # seed, points (n, lat, lng, spread), targets (m, lat, lng, spread), k
    (1, (3_000, 23.9, 117.1, 0.15), (400, 23.6, 116.0, 1.2), 30),  # plum growers and buyers
    (2, (2_500, 26.8, 106.8, 0.8), (900, 26.9, 106.6, 1.5), 12),  # a province
    (3, (700, 25.0, 110.0, 40.0), (300, 25.0, 110.0, 40.0), 9),  # half a hemisphere
    (4, (130, 25.0, 110.0, 0.01), (50, -25.0, -70.0, 1.0), 50),  # k = every target, far side
    (5, (1, 30.0, 120.0, 0.0), (5, 30.0, 120.0, 2.0), 1),
    (6, (130, 25.0, 110.0, 0.01), (200, -25.0, -70.0, 5.0), 20),  # far side, padded groups
]


@pytest.mark.parametrize("widest", [nearest.WIDEST, 1])
@pytest.mark.parametrize(("seed", "p", "t", "k"), CASES)
def test_each_point_gets_its_k_nearest_targets(monkeypatch, widest, seed, p, t, k):
    """Exactly the brute-force k nearest, each row ascending, whether a point's group was
    scored among its candidates or (with WIDEST 1, most groups) sent to the k-d tree."""
    monkeypatch.setattr(nearest, "WIDEST", widest)
    rng = np.random.default_rng(seed)
    points, targets = cloud(rng, *p), cloud(rng, *t)
    got = nearest.k_nearest(points[2], targets[2], k)
    assert got.shape == (p[0], k)
    assert (np.diff(got, axis=1) > 0).all()
    assert [set(row.tolist()) for row in got] == brute_force(points, targets, k)


def test_groups_take_both_ways_in_one_call(monkeypatch):
    """Tight groups scored among their candidates and spread-out ones sent to the tree, in
    one call: a dense cluster and scattered strays."""
    rng = np.random.default_rng(8)
    dense, strays = cloud(rng, 2_000, 24.0, 117.0, 0.05), cloud(rng, 300, 24.0, 117.0, 30.0)
    points = tuple(np.concatenate([a, b]) for a, b in zip(dense, strays, strict=True))
    targets = cloud(rng, 600, 24.0, 117.0, 3.0)
    sent: list[int] = []
    query = nearest.cKDTree.query

    class Tree(nearest.cKDTree):
        def query(self, x, *args, **kwargs):
            sent.append(len(x))
            return query(self, x, *args, **kwargs)

    monkeypatch.setattr(nearest, "cKDTree", Tree)
    got = nearest.k_nearest(points[2], targets[2], 20)
    groups = -(-2_300 // nearest.GROUP)
    assert sent[0] == groups  # the group centres' candidates
    assert 0 < sent[1] < 2_300  # some points, not all, went to the tree
    assert [set(row.tolist()) for row in got] == brute_force(points, targets, 20)


def test_duplicate_points_and_targets():
    """Points in the same place get the same targets; a target listed twice counts twice."""
    rng = np.random.default_rng(4)
    base = cloud(rng, 50, 23.0, 113.0, 0.3)
    points = tuple(np.concatenate([a, a, a]) for a in base)
    targets = cloud(rng, 40, 23.0, 113.0, 0.5)
    targets = tuple(np.concatenate([a, a[:10]]) for a in targets)
    got = nearest.k_nearest(points[2], targets[2], 8)
    assert np.array_equal(got[:50], got[50:100])
    km = great_circle_km(
        points[0][:, None], points[1][:, None], targets[0][None, :], targets[1][None, :]
    )
    kth = np.sort(km, axis=1)[:, 7]
    chosen = np.take_along_axis(km, got, axis=1)
    assert np.allclose(chosen.max(axis=1), kth, rtol=0, atol=1e-9)


def test_no_points():
    targets = unit_vectors(np.array([1.0, 2.0]), np.array([3.0, 4.0])).reshape(-1, 3)
    assert nearest.k_nearest(np.zeros((0, 3)), targets, 2).shape == (0, 2)
