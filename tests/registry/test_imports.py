"""Bulk imports are all or nothing, over the client-streaming RPCs."""

from __future__ import annotations

import json

import grpc
import pytest

from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry.resources import bulk, imports
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails


def chunks(rows, size=3, request_id=""):
    for start in range(0, len(rows), size):
        yield api.ImportHouseholdsRequest(
            households=rows[start : start + size], request_id=request_id if start == 0 else ""
        )


def count(stub) -> int:
    return len(stub.ListHouseholds(api.ListHouseholdsRequest(page_size=1000)).households)


def test_import_stores_every_row(registry):
    """Ten rows in four chunks are all stored, scored, and their ids sort in input order."""
    village = factories.create_village(registry)
    rows = [factories.household(village.id) for _ in range(10)]
    response = registry.ImportHouseholds(chunks(rows))
    assert response.imported == 10 and len(response.ids) == 10
    assert list(response.ids) == sorted(response.ids)
    stored = registry.GetHousehold(api.GetHouseholdRequest(id=response.ids[7]))
    assert stored.card_number == rows[7].card_number and stored.status == pb.IMPOVERISHED
    assert count(registry) == 10


def test_imported_cards_read_as_created_ones(registry):
    """Extra indicators and set sub-scores written by an import (COPY text built by hand)
    read back as those of the same household created one at a time (through the ORM)."""
    village = factories.create_village(registry)
    kinds = [{}, {"broadband": 30, "road_access": 90}]
    made = [
        factories.create_household(registry, village.id, indicators=factories.indicators(extra=e))
        for e in kinds
    ]
    rows = [
        factories.household(village.id, indicators=factories.indicators(extra=e)) for e in kinds
    ]
    ids = list(registry.ImportHouseholds(chunks(rows)).ids)
    # One chunk of rows that all carry extra indicators: none left to score column-wise.
    alone = factories.household(village.id, indicators=factories.indicators(extra=kinds[1]))
    ids += registry.ImportHouseholds(chunks([alone])).ids
    made.append(made[1])
    for created, new_id in zip(made, ids, strict=True):
        got = registry.GetHousehold(api.GetHouseholdRequest(id=new_id))
        assert dict(got.set_scores) == dict(created.set_scores) and got.set_scores
        assert dict(got.indicators.extra) == dict(created.indicators.extra)
        assert (got.score, got.status) == (created.score, created.status)


@pytest.mark.parametrize(
    "value", [{}, {"income": 100, "capacity": 0}, {"a%d": 1, 'q"x': -2, "收入": 7}]
)
def test_set_scores_text_is_what_json_dumps_writes(value):
    templates: dict[tuple[str, ...], str] = {}
    for _ in range(2):  # the template made, then the template reused
        assert imports._json_ints(templates, value) == json.dumps(value)


def test_one_bad_row_rejects_the_batch(registry):
    """A bad row in the middle names its index and field; nothing is stored."""
    village = factories.create_village(registry)
    rows = [factories.household(village.id) for _ in range(10)]
    rows[6].members = 0
    rows[8].indicators.health = 101
    error = rpc_fails(
        lambda: registry.ImportHouseholds(chunks(rows)), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert fields_of(error) == [
        "households[6].members",
        "households[6].labour_force",
        "households[8].indicators.health",
    ]
    assert count(registry) == 0


def test_unknown_village_names_the_row(registry):
    """A row in an unknown village is NOT_FOUND naming households[ROW].village_id."""
    village = factories.create_village(registry)
    rows = [factories.household(village.id) for _ in range(5)]
    rows[3].village_id = "vil-missing"
    error = rpc_fails(lambda: registry.ImportHouseholds(chunks(rows)), grpc.StatusCode.NOT_FOUND)
    assert fields_of(error) == ["households[3].village_id"]
    assert count(registry) == 0


def test_duplicate_card_in_batch_or_store(registry):
    """A card number repeated within the import, or already filed, rejects the batch."""
    village = factories.create_village(registry)
    filed = factories.create_household(registry, village.id)
    rows = [factories.household(village.id) for _ in range(4)]
    rows[2].card_number = rows[0].card_number
    error = rpc_fails(
        lambda: registry.ImportHouseholds(chunks(rows)), grpc.StatusCode.ALREADY_EXISTS
    )
    assert fields_of(error) == ["households[2].card_number"]
    rows[2].card_number, rows[3].card_number = "UNIQUE-1", filed.card_number
    error = rpc_fails(
        lambda: registry.ImportHouseholds(chunks(rows)), grpc.StatusCode.ALREADY_EXISTS
    )
    assert fields_of(error) == ["households[3].card_number"]
    assert count(registry) == 1


def test_retried_import_is_not_applied_twice(registry):
    """The same request_id returns the first result and stores nothing new."""
    village = factories.create_village(registry)
    rows = [factories.household(village.id) for _ in range(4)]
    first = registry.ImportHouseholds(chunks(rows, request_id="import-7"))
    again = registry.ImportHouseholds(chunks(rows, request_id="import-7"))
    assert again.imported == first.imported == 4
    assert count(registry) == 4


def test_import_listings_and_cadres(registry):
    """Listings and cadres import through their own streams."""
    village = factories.create_village(registry)
    hh = factories.create_household(registry, village.id)
    producer = registry.CreateProducer(
        api.CreateProducerRequest(producer=factories.producer_for(hh.id))
    )
    listings = [factories.listing(producer.id) for _ in range(3)]
    assert (
        registry.ImportListings(iter([api.ImportListingsRequest(listings=listings)])).imported == 3
    )
    cadres = [factories.cadre(current_village_id=village.id) for _ in range(3)]
    assert registry.ImportCadres(iter([api.ImportCadresRequest(cadres=cadres)])).imported == 3
    cadres[1].current_village_id = "vil-x"
    error = rpc_fails(
        lambda: registry.ImportCadres(iter([api.ImportCadresRequest(cadres=cadres)])),
        grpc.StatusCode.NOT_FOUND,
    )
    assert fields_of(error) == ["cadres[1].current_village_id"]


@pytest.mark.parametrize(
    ("rows", "text"),
    [
        ([], ""),
        (
            [("hh-1", 4, -1, "[7, 1]"), ("hh-2", 0, 3, "{}")],
            "hh-1\t4\t-1\t[7, 1]\nhh-2\t0\t3\t{}\n",
        ),
        ([("a\\b", 1)], "a\\\\b\t1\n"),  # a backslash doubled
        ([("a\tb", 1), ("c\nd", 2)], "a\\tb\t1\nc\\nd\t2\n"),  # control characters escaped
    ],
)
def test_copy_text_is_escaped_as_copy_reads_it(rows, text):
    """Rows become COPY's text format: values tab-separated, backslashes and control
    characters escaped (the fast path and the value-by-value one agree)."""
    assert bulk._copy_format(rows) == text
