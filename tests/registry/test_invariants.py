"""The database itself refuses impossible states, whatever code path writes them."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from fupin.registry.v1 import registry_service_pb2 as api
from tests import factories


@pytest.fixture
def listing_id(registry):
    village = factories.create_village(registry)
    hh = factories.create_household(registry, village.id)
    producer = registry.CreateProducer(
        api.CreateProducerRequest(producer=factories.producer_for(hh.id))
    )
    return registry.CreateListing(
        api.CreateListingRequest(listing=factories.listing(producer.id))
    ).id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE listing SET reserved_kg = quantity_kg + 1",
        "UPDATE listing SET quantity_kg = -5",
        "UPDATE listing SET producer_id = 'pro-missing'",
        "UPDATE household SET score = 101",
        "UPDATE household SET labour_force = members + 1",
    ],
)
def test_database_refuses(server, listing_id, statement):
    """Raw SQL that breaks an invariant fails; a valid one passes."""
    with pytest.raises(IntegrityError), server.store.engine.begin() as conn:
        conn.execute(text(statement))


def test_database_accepts_valid_reservation(server, listing_id):
    """Reserving exactly the listed quantity is allowed (the pair of the refusals above)."""
    with server.store.engine.begin() as conn:
        conn.execute(text("UPDATE listing SET reserved_kg = quantity_kg"))
