"""Create/Get/List/Update/Delete over gRPC, for every kind of registry resource."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails


def make(stub: Any, kind: str) -> tuple[str, Any]:
    """A valid, not yet created message of `kind`, creating what it refers to."""
    if kind == "village":
        return "Village", factories.village()
    if kind == "buyer":
        return "Buyer", factories.buyer()
    if kind == "cadre":
        return "Cadre", factories.cadre()
    if kind == "aid_program":
        return "AidProgram", factories.aid_program()
    village = factories.create_village(stub)
    if kind == "household":
        return "Household", factories.household(village.id)
    household = factories.create_household(stub, village.id)
    producer = stub.CreateProducer(
        api.CreateProducerRequest(producer=factories.producer_for(household.id))
    )
    if kind == "producer":
        return "Producer", factories.producer_for(household.id, display_name="Another")
    if kind == "listing":
        return "Listing", factories.listing(producer.id)
    buyer = stub.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    return "Order", factories.order(buyer.id)


KINDS = ["village", "household", "producer", "listing", "buyer", "order", "cadre", "aid_program"]
PLURAL = {
    "Village": "Villages",
    "Household": "Households",
    "Producer": "Producers",
    "Listing": "Listings",
    "Buyer": "Buyers",
    "Order": "Orders",
    "Cadre": "Cadres",
    "AidProgram": "AidPrograms",
}
RENAMED = {
    "village": "display_name",
    "household": "head_name",
    "producer": "display_name",
    "listing": "grade",
    "buyer": "display_name",
    "order": "product",
    "cadre": "display_name",
    "aid_program": "display_name",
}


def call(stub: Any, verb: str, title: str, **kw: Any) -> Any:
    name = f"{verb}{PLURAL[title] if verb == 'List' else title}"
    request = getattr(api, f"{name}Request")(**kw)
    return getattr(stub, name)(request)


@pytest.mark.parametrize("kind", KINDS)
def test_crud_round_trip(registry, kind):
    """Create, get, list, update (with mask and etag) and delete one resource of each kind."""
    title, message = make(registry, kind)
    created = call(registry, "Create", title, **{kind: message})
    assert created.id and created.etag and created.create_time.seconds > 0
    assert call(registry, "Get", title, id=created.id) == created
    listed = call(registry, "List", title, page_size=1000)
    assert created.id in [
        r.id for r in getattr(listed, f"{kind}s" if kind != "aid_program" else "aid_programs")
    ]

    field = RENAMED[kind]
    patch = type(created)(
        id=created.id, etag=created.etag, **{field: "b" if field == "grade" else "renamed"}
    )
    updated = call(
        registry,
        "Update",
        title,
        **{kind: patch},
        update_mask=field_mask_pb2.FieldMask(paths=[field]),
    )
    assert getattr(updated, field) in ("b", "renamed") and updated.etag != created.etag
    stale = rpc_fails(
        lambda: call(
            registry,
            "Update",
            title,
            **{kind: patch},
            update_mask=field_mask_pb2.FieldMask(paths=[field]),
        ),
        grpc.StatusCode.ABORTED,
    )
    assert "stale" in stale.details()
    rpc_fails(
        lambda: call(registry, "Delete", title, id=created.id, etag=created.etag),
        grpc.StatusCode.ABORTED,
    )
    call(registry, "Delete", title, id=created.id, etag=updated.etag)
    rpc_fails(lambda: call(registry, "Get", title, id=created.id), grpc.StatusCode.NOT_FOUND)


@pytest.mark.parametrize("kind", KINDS)
def test_create_without_fields_names_them(registry, kind):
    """An empty resource is refused with a violation for each required field; nothing stored."""
    title, message = make(registry, kind)
    before = call(registry, "List", title, page_size=1000)
    error = rpc_fails(
        lambda: call(registry, "Create", title, **{kind: type(message)()}),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    fields = fields_of(error)
    assert fields and all(f.startswith(f"{kind}.") for f in fields)
    assert call(registry, "List", title, page_size=1000) == before


def test_request_id_makes_create_idempotent(registry):
    """A retried create returns the first result; a reused id with other data is refused."""
    request = api.CreateVillageRequest(village=factories.village(), request_id="retry-1")
    first = registry.CreateVillage(request)
    second = registry.CreateVillage(request)
    assert first == second
    assert len(registry.ListVillages(api.ListVillagesRequest()).villages) == 1
    other = api.CreateVillageRequest(village=factories.village(), request_id="retry-1")
    error = rpc_fails(lambda: registry.CreateVillage(other), grpc.StatusCode.ALREADY_EXISTS)
    assert fields_of(error) == ["request_id"]


def test_duplicate_card_number_already_exists(registry):
    """Two households cannot share a card number (建档立卡 number)."""
    village = factories.create_village(registry)
    first = factories.create_household(registry, village.id)
    error = rpc_fails(
        lambda: factories.create_household(registry, village.id, card_number=first.card_number),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert fields_of(error) == ["card_number"]


def test_unknown_reference_not_found(registry):
    """A household in an unknown village is NOT_FOUND, naming village_id."""
    error = rpc_fails(
        lambda: factories.create_household(registry, "vil-nope"), grpc.StatusCode.NOT_FOUND
    )
    assert fields_of(error) == ["village_id"]


def test_delete_referenced_village_fails_precondition(registry):
    """A village with households cannot be deleted; it stays."""
    village = factories.create_village(registry)
    factories.create_household(registry, village.id)
    rpc_fails(
        lambda: registry.DeleteVillage(api.DeleteVillageRequest(id=village.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert registry.GetVillage(api.GetVillageRequest(id=village.id)) == village


def test_update_mask_refuses_output_only_and_unknown(registry):
    """Masks naming output-only or unknown fields are INVALID_ARGUMENT, naming update_mask."""
    village = factories.create_village(registry)
    household = factories.create_household(registry, village.id)
    for path in ("score", "nonexistent"):
        error = rpc_fails(
            lambda p=path: registry.UpdateHousehold(
                api.UpdateHouseholdRequest(
                    household=household, update_mask=field_mask_pb2.FieldMask(paths=[p])
                )
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert fields_of(error) == ["update_mask"]


def test_update_keeps_unmasked_fields(registry):
    """Only masked fields change; a bad value in a masked field changes nothing."""
    village = factories.create_village(registry)
    hh = factories.create_household(registry, village.id)
    patch = pb.Household(id=hh.id, members=6, head_name="ignored")
    updated = registry.UpdateHousehold(
        api.UpdateHouseholdRequest(
            household=patch, update_mask=field_mask_pb2.FieldMask(paths=["members"])
        )
    )
    assert (updated.members, updated.head_name) == (6, hh.head_name)
    bad = pb.Household(id=hh.id, labour_force=99)
    error = rpc_fails(
        lambda: registry.UpdateHousehold(
            api.UpdateHouseholdRequest(
                household=bad, update_mask=field_mask_pb2.FieldMask(paths=["labour_force"])
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["household.labour_force"]
    assert registry.GetHousehold(api.GetHouseholdRequest(id=hh.id)) == updated


def test_pages_walk_every_row_once(registry):
    """Seven villages in pages of three: three pages, each row once, in id order."""
    ids = [factories.create_village(registry).id for _ in range(7)]
    seen, token, pages = [], "", 0
    while True:
        page = registry.ListVillages(api.ListVillagesRequest(page_size=3, page_token=token))
        seen += [v.id for v in page.villages]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(ids) and pages == 3


def test_page_token_bound_to_filter(registry):
    """A token reused with another filter, or a forged one, is INVALID_ARGUMENT."""
    for _ in range(3):
        factories.create_village(registry)
    token = registry.ListVillages(api.ListVillagesRequest(page_size=1)).next_page_token
    for request in (
        api.ListVillagesRequest(page_token=token, filter='county_code = "350624"'),
        api.ListVillagesRequest(page_token="not-a-token"),
    ):
        error = rpc_fails(
            lambda r=request: registry.ListVillages(r), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert fields_of(error) == ["page_token"]


def test_filters_select_and_refuse(registry):
    """Filters by county and status select rows; unknown fields are refused."""
    zhaoan = factories.create_village(registry)
    other = factories.create_village(registry, admin_code="445281100200")
    factories.create_household(registry, zhaoan.id)
    factories.create_household(registry, other.id)
    got = registry.ListHouseholds(api.ListHouseholdsRequest(filter='county_code = "445281"'))
    assert [h.village_id for h in got.households] == [other.id]
    both = registry.ListHouseholds(api.ListHouseholdsRequest(filter="status = IMPOVERISHED"))
    assert len(both.households) == 2
    error = rpc_fails(
        lambda: registry.ListHouseholds(api.ListHouseholdsRequest(filter="income = 3")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["filter"]
