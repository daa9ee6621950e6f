"""A first end-to-end pass through the registry over gRPC."""

from fupin.registry.v1 import registry_service_pb2 as api
from tests import factories


def test_create_get_household(registry):
    """A household created through the API comes back with a score, status and history."""
    village = factories.create_village(registry)
    created = factories.create_household(registry, village.id)
    got = registry.GetHousehold(api.GetHouseholdRequest(id=created.id))
    assert got == created
    assert got.county_code == factories.ZHAOAN
    assert len(got.history) == 1
