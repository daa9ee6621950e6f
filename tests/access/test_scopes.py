"""Scopes across two counties (Zhao'an 350624, Puning 445281): lists, gets, writes, imports."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2

from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import resources_pb2 as pb
from tests import factories
from tests.access.world import PUNING, ZHAOAN
from tests.rpcerrors import rpc_fails


def as_key(channel, key):
    """A RegistryService stub whose calls carry key."""
    stub = api_grpc.RegistryServiceStub(channel)
    metadata = [("authorization", f"Bearer {key}")]

    class Keyed:
        def __getattr__(self, name):
            method = getattr(stub, name)
            return lambda request, **kw: method(request, metadata=metadata, timeout=10, **kw)

    return Keyed()


def walk(stub, method, field, request_type, **fields):
    """Every item of a list, one per page (so tokens are exercised)."""
    items, token = [], ""
    while True:
        page = getattr(stub, method)(request_type(page_size=1, page_token=token, **fields))
        items += getattr(page, field)
        token = page.next_page_token
        if not token:
            return items


def test_office_lists_only_its_county(bare, world):
    """Households, villages, producers and listings of the other county never appear, page by
    page, and the last page of the office's own rows has no next token."""
    office = as_key(bare, world.keys["office"])
    households = walk(office, "ListHouseholds", "households", api.ListHouseholdsRequest)
    assert [h.id for h in households] == [world.ids["household_a"]]
    assert {h.county_code for h in households} == {ZHAOAN}
    villages = walk(office, "ListVillages", "villages", api.ListVillagesRequest)
    assert [v.id for v in villages] == [world.ids["village_a"]]
    producers = walk(office, "ListProducers", "producers", api.ListProducersRequest)
    assert {p.id for p in producers} == {world.ids["producer_a"], world.ids["coop"]}
    listings = walk(office, "ListListings", "listings", api.ListListingsRequest)
    assert {x.id for x in listings} == {world.ids["listing_a"], world.ids["coop_listing"]}
    other = walk(
        office,
        "ListHouseholds",
        "households",
        api.ListHouseholdsRequest,
        filter=f'county_code = "{PUNING}"',
    )
    assert other == []


def test_other_county_reads_as_unknown(bare, world):
    """A Get, Update or Delete of the other county's household is NOT_FOUND, word for word
    what an id that does not exist gets."""
    office = as_key(bare, world.keys["office"])
    theirs = world.ids["household_b"]
    missing = rpc_fails(
        lambda: office.GetHousehold(api.GetHouseholdRequest(id="hh-doesnotexist")),
        grpc.StatusCode.NOT_FOUND,
    )
    hidden = rpc_fails(
        lambda: office.GetHousehold(api.GetHouseholdRequest(id=theirs)),
        grpc.StatusCode.NOT_FOUND,
    )
    assert hidden.details() == missing.details().replace("hh-doesnotexist", theirs)
    rpc_fails(
        lambda: office.UpdateHousehold(
            api.UpdateHouseholdRequest(
                household=pb.Household(id=theirs, head_name="X"),
                update_mask=field_mask_pb2.FieldMask(paths=["head_name"]),
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    rpc_fails(
        lambda: office.DeleteHousehold(api.DeleteHouseholdRequest(id=theirs)),
        grpc.StatusCode.NOT_FOUND,
    )
    admin = as_key(bare, world.keys["admin"])
    assert admin.GetHousehold(api.GetHouseholdRequest(id=theirs)).head_name == "Secret Name B"


def test_office_cannot_write_into_the_other_county(bare, world):
    """Creating a household in the other county's village is NOT_FOUND (as for a village that
    does not exist: the id reveals nothing), and so is moving one there; importing one there is
    PERMISSION_DENIED; nothing is stored."""
    office = as_key(bare, world.keys["office"])
    admin = as_key(bare, world.keys["admin"])
    before = admin.ListHouseholds(api.ListHouseholdsRequest()).households
    theirs = factories.household(world.ids["village_b"])
    rpc_fails(
        lambda: office.CreateHousehold(api.CreateHouseholdRequest(household=theirs)),
        grpc.StatusCode.NOT_FOUND,
    )
    chunk = api.ImportHouseholdsRequest(
        households=[factories.household(world.ids["village_a"]), theirs]
    )
    rpc_fails(lambda: office.ImportHouseholds(iter([chunk])), grpc.StatusCode.PERMISSION_DENIED)
    rpc_fails(
        lambda: office.UpdateHousehold(
            api.UpdateHouseholdRequest(
                household=pb.Household(
                    id=world.ids["household_a"], village_id=world.ids["village_b"]
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["village_id"]),
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert admin.ListHouseholds(api.ListHouseholdsRequest()).households == before
    ours = office.CreateHousehold(
        api.CreateHouseholdRequest(household=factories.household(world.ids["village_a"]))
    )
    assert ours.county_code == ZHAOAN


def test_office_b_sees_only_puning(bare, world):
    """The same RPCs with the other office's key show the other county."""
    office_b = as_key(bare, world.keys["office_b"])
    households = office_b.ListHouseholds(api.ListHouseholdsRequest()).households
    assert [h.id for h in households] == [world.ids["household_b"]]
    watch = office_b.ListWatchlist(api.ListWatchlistRequest()).entries
    assert {e.household.county_code for e in watch} <= {PUNING}


def test_aid_programmes_by_region(bare, world):
    """An office reads its county's programmes and national ones, and changes only its own:
    a national one it reads is PERMISSION_DENIED, another county's NOT_FOUND."""
    admin = as_key(bare, world.keys["admin"])
    national = admin.CreateAidProgram(
        api.CreateAidProgramRequest(aid_program=factories.aid_program(region_code=""))
    )
    office = as_key(bare, world.keys["office"])
    seen = {p.id for p in office.ListAidPrograms(api.ListAidProgramsRequest()).aid_programs}
    assert seen == {world.ids["aid_program_a"], national.id}
    rpc_fails(
        lambda: office.DeleteAidProgram(api.DeleteAidProgramRequest(id=national.id)),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    rpc_fails(
        lambda: office.DeleteAidProgram(api.DeleteAidProgramRequest(id=world.ids["aid_program_b"])),
        grpc.StatusCode.NOT_FOUND,
    )
    rpc_fails(
        lambda: office.CreateAidProgram(
            api.CreateAidProgramRequest(aid_program=factories.aid_program(region_code=PUNING))
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )


def test_cooperative_owns_its_listings_only(bare, world):
    """A cooperative lists and changes its own listings; another producer's are unknown to it
    and it cannot list produce in another producer's name."""
    coop = as_key(bare, world.keys["cooperative"])
    listings = walk(coop, "ListListings", "listings", api.ListListingsRequest)
    assert [x.id for x in listings] == [world.ids["coop_listing"]]
    assert [p.id for p in coop.ListProducers(api.ListProducersRequest()).producers] == [
        world.ids["coop"]
    ]
    rpc_fails(
        lambda: coop.GetListing(api.GetListingRequest(id=world.ids["listing_a"])),
        grpc.StatusCode.NOT_FOUND,
    )
    rpc_fails(
        lambda: coop.CreateListing(
            api.CreateListingRequest(listing=factories.listing(world.ids["producer_a"]))
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    rpc_fails(
        lambda: coop.ImportListings(
            iter([api.ImportListingsRequest(listings=[factories.listing(world.ids["producer_b"])])])
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    mine = coop.CreateListing(
        api.CreateListingRequest(listing=factories.listing(world.ids["coop"]))
    )
    coop.DeleteListing(api.DeleteListingRequest(id=mine.id))


def test_platform_owns_its_orders_only(bare, world):
    """A platform sees its buyer and orders only, and cannot order in another buyer's name."""
    platform = as_key(bare, world.keys["platform"])
    assert [o.id for o in platform.ListOrders(api.ListOrdersRequest()).orders] == [
        world.ids["order_1"]
    ]
    assert [b.id for b in platform.ListBuyers(api.ListBuyersRequest()).buyers] == [
        world.ids["buyer_1"]
    ]
    rpc_fails(
        lambda: platform.GetOrder(api.GetOrderRequest(id=world.ids["order_2"])),
        grpc.StatusCode.NOT_FOUND,
    )
    rpc_fails(
        lambda: platform.CreateOrder(
            api.CreateOrderRequest(order=factories.order(world.ids["buyer_2"]))
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    created = platform.CreateOrder(
        api.CreateOrderRequest(order=factories.order(world.ids["buyer_1"]))
    )
    assert created.buyer_id == world.ids["buyer_1"]


def test_auditor_scope(bare, world):
    """An auditor of Zhao'an reads Zhao'an's households only; one without scope reads all."""
    auditor = as_key(bare, world.keys["auditor"])
    assert [h.id for h in auditor.ListHouseholds(api.ListHouseholdsRequest()).households] == [
        world.ids["household_a"]
    ]
    everywhere = as_key(bare, world.keys["auditor_all"])
    assert len(everywhere.ListHouseholds(api.ListHouseholdsRequest()).households) == 2
