"""Great-circle distances: known values, symmetry, broadcasting and the chord form."""

from __future__ import annotations

import math

import numpy as np
import pytest

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
