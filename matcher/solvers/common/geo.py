"""Great-circle distance on the WGS84 mean sphere, vectorised over numpy arrays.

A sphere rather than the ellipsoid: transport costs are estimates scaled by a road factor
(≈1.3), so the ellipsoid's ≤0.5 % correction is far below the noise, and the haversine form
broadcasts over millions of listing × order pairs in a few numpy passes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# IUGG mean Earth radius (2R1 + R3) / 3.
EARTH_RADIUS_KM = 6371.0088

FloatArray = npt.NDArray[np.float64]


def great_circle_km(
    lat1: npt.ArrayLike, lng1: npt.ArrayLike, lat2: npt.ArrayLike, lng2: npt.ArrayLike
) -> FloatArray:
    """Haversine distance in km between points given in degrees; arguments broadcast."""
    phi1 = np.radians(np.asarray(lat1, dtype=np.float64))
    phi2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dphi = phi2 - phi1
    dlmb = np.radians(np.asarray(lng2, dtype=np.float64) - np.asarray(lng1, dtype=np.float64))
    h = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    # Rounding can push h a hair above 1 for antipodal points; arcsin would then give NaN.
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def unit_vectors(lat: npt.ArrayLike, lng: npt.ArrayLike) -> FloatArray:
    """Points in degrees as rows of 3-D unit vectors (n × 3)."""
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    lmb = np.radians(np.asarray(lng, dtype=np.float64))
    return np.stack([np.cos(phi) * np.cos(lmb), np.cos(phi) * np.sin(lmb), np.sin(phi)], axis=-1)


def great_circle_km_from_chord(chord_squared: npt.ArrayLike) -> FloatArray:
    """Distance from the squared straight-line distance between two unit vectors.

    The arc builder sums (p_k − q_k)² over the three coordinates of broadcast listing and
    order vectors: three subtractions per pair and one arcsin, with no cancellation for
    nearby points (unlike 1 − p·q, which is off by ~100 m near zero).
    """
    half_chord = np.sqrt(np.asarray(chord_squared, dtype=np.float64)) / 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(half_chord, 1.0)))


def haversine_m(
    lat1: FloatArray,
    lng1: FloatArray,
    lat2: FloatArray,
    lng2: FloatArray,
    cos_lat1: FloatArray | None = None,
    cos_lat2: FloatArray | None = None,
) -> FloatArray:
    """Haversine distance in metres between points given in radians; arguments broadcast.

    For the cadre models' arc-sized arrays (millions of pairs): points come in radians with
    their cosines computed once per site, and the work runs in place on two result-sized
    buffers, since at 7.5 million pairs every temporary costs 60 MB.
    """
    c1 = np.cos(lat1) if cos_lat1 is None else cos_lat1
    c2 = np.cos(lat2) if cos_lat2 is None else cos_lat2
    h = np.subtract(lat2, lat1)
    h *= 0.5
    np.sin(h, out=h)
    h *= h
    g = np.subtract(lng2, lng1)
    g *= 0.5
    np.sin(g, out=g)
    g *= g
    g *= c1
    g *= c2
    h += g
    del g
    np.minimum(h, 1.0, out=h)
    np.sqrt(h, out=h)
    np.arcsin(h, out=h)
    h *= 2000.0 * EARTH_RADIUS_KM
    return h
