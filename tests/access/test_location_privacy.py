"""A household producer's home cannot be located from distances: every distance is from its
point on the 0.01-degree grid (registry/runs/supply.py)."""

from __future__ import annotations

import pytest

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from matcher.solvers.common.geo import great_circle_km
from matcher.solvers.produce import TransportConfig
from tests import factories
from tests.matcher.service.test_service import quick_until

HOME = (23.72349, 117.17661)  # off the grid: 0.4 km from its grid point


def _km(lat: float, lng: float, to: pb.LatLng) -> float:
    road = TransportConfig().road_factor
    return float(great_circle_km(lat, lng, to.latitude, to.longitude)) * road


def test_quick_source_distances_are_from_the_grid_point(channel, registry):
    """Three orders around a home: each distance is the grid point's, so the three locate the
    grid point (already public, ~1 km) and never the home (recovered to 7.5 m before)."""
    village = factories.create_village(registry)
    household = factories.create_household(registry, village.id)
    location = pb.LatLng(latitude=HOME[0], longitude=HOME[1])
    producer = registry.CreateProducer(
        api.CreateProducerRequest(producer=factories.producer_for(household.id, location=location))
    )
    listing = registry.CreateListing(
        api.CreateListingRequest(listing=factories.listing(producer.id))
    ).id
    matcher = mpb_grpc.MatcherServiceStub(channel)
    off_by = []
    for where in [(23.30, 116.17), (24.10, 117.60), (23.50, 118.20)]:
        at = pb.LatLng(latitude=where[0], longitude=where[1])
        order = mpb.InlineOrder(
            product="green_plum",
            accepted_grades=["A"],
            max_quantity_kg=100,
            price_fen=5000,
            location=at,
            deliver_by="2020-06-10",
        )
        request = mpb.QuickSourceRequest(order=order, today="2020-05-10")
        (candidate,) = quick_until(matcher, request, lambda ids: ids == [listing])
        assert candidate.distance_km == pytest.approx(_km(23.72, 117.18, at), abs=1e-6)
        off_by.append(abs(candidate.distance_km - _km(*HOME, at)))
    assert max(off_by) > 0.1  # the home's own distances would have placed it
