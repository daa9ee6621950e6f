"""Request ids belong to the caller: the same id from two keys is two requests, and another
caller's id replays nothing and clashes with nothing (registry/resources/requests.py)."""

from __future__ import annotations

import grpc

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from matcher.service.kinds import scoped_run_id
from registry.access.policy import Role
from tests import factories
from tests.access.test_scopes import as_key
from tests.access.world import ZHAOAN
from tests.matcher.service.test_service import inline_listing, inline_order
from tests.rpcerrors import fields_of, rpc_fails


def _create(stub, household, request_id: str):
    return stub.CreateHousehold(
        api.CreateHouseholdRequest(household=household, request_id=request_id)
    )


def test_same_request_id_from_two_keys_is_two_requests(bare, world, server):
    """Another office's request_id, replayed with the same body, makes a new household (it
    returned the other office's); with another body it succeeds (it said ALREADY_EXISTS)."""
    twin = server.keys.create(Role.OFFICE, ZHAOAN).secret
    mine, theirs = as_key(bare, world.keys["office"]), as_key(bare, twin)
    household = factories.household(world.ids["village_a"], card_number="CARD-T-0000001")
    first = _create(mine, household, "hh-rid-1")
    assert _create(mine, household, "hh-rid-1").id == first.id  # a retry: the same one
    household.card_number = "CARD-T-0000002"
    replay = _create(theirs, household, "hh-rid-1")
    assert replay.id != first.id and replay.card_number == "CARD-T-0000002"


def test_same_run_request_id_from_two_keys_is_two_runs(bare, world):
    """A platform's and an admin's inline runs under one request_id are two runs."""
    problem = mpb.ProduceProblem(
        listings=[inline_listing("a", 100)], orders=[inline_order("o", 10)], today="2020-05-10"
    )
    runs = []
    for name in ("platform", "admin"):
        stub = mpb_grpc.MatcherServiceStub(bare)
        runs.append(
            stub.MatchProduce(
                mpb.MatchProduceRequest(inline=problem, request_id="run-rid-1"),
                metadata=[("authorization", f"Bearer {world.keys[name]}")],
                timeout=60,
            )
        )
    assert runs[0].id != runs[1].id


def test_platform_matches_only_its_own_orders(bare, world):
    """A platform's registry-selection MatchProduce allocates only to its own buyer's orders
    (it allocated to, and showed, another buyer's order with its price)."""
    stub = mpb_grpc.MatcherServiceStub(bare)
    request = mpb.MatchProduceRequest(
        selection=mpb.RegistrySelection(product="green_plum", today="2020-05-05"),
        parameters=mpb.SolveParameters(time_limit_s=10),
    )
    keyed = [("authorization", f"Bearer {world.keys['platform']}")]
    run = stub.MatchProduce(request, metadata=keyed, timeout=60)
    orders = {a.order_id for a in run.produce.allocations}
    orders |= {o.order_id for o in run.produce.orders}
    assert orders == {world.ids["order_1"]}
    assert world.ids["order_2"].encode() not in run.SerializeToString()
    admin = [("authorization", f"Bearer {world.keys['admin']}")]
    both = stub.MatchProduce(request, metadata=admin, timeout=60)
    assert world.ids["order_2"] in {a.order_id for a in both.produce.allocations}


def test_references_to_another_county_are_not_found(bare, world):
    """An office's CreateProducer naming another county's household, member or village is
    NOT_FOUND exactly as for an id that does not exist (it succeeded, and the other county
    could then not delete its household); its own county's still work."""
    office = as_key(bare, world.keys["office"])
    theirs, ours = world.ids["household_b"], world.ids["household_a"]
    cases = [
        ("household_id", factories.producer_for(theirs)),
        ("household_id", factories.producer_for("hh-doesnotexist")),
        (
            "members[0].household_id",
            pb.Producer(
                kind=pb.PRODUCER_COOPERATIVE,
                display_name="Cross-county cooperative",
                members=[pb.CooperativeMember(household_id=theirs, share_permille=1000)],
                village_id=world.ids["village_a"],
                location=pb.LatLng(latitude=23.7, longitude=117.2),
            ),
        ),
        ("village_id", factories.producer_for(ours, village_id=world.ids["village_b"])),
    ]
    for field, producer in cases:
        error = rpc_fails(
            lambda p=producer: office.CreateProducer(api.CreateProducerRequest(producer=p)),
            grpc.StatusCode.NOT_FOUND,
        )
        assert fields_of(error) == [field]
    assert office.CreateProducer(api.CreateProducerRequest(producer=factories.producer_for(ours)))


def test_another_countys_household_stays_its_own_to_delete(bare, world):
    """After an office named another county's household in CreateProducer, as producer or as
    cooperative member (both NOT_FOUND), that county still deletes it (the producer used to be
    made, and the delete then failed on it)."""
    office, office_b = as_key(bare, world.keys["office"]), as_key(bare, world.keys["office_b"])
    new = factories.household(world.ids["village_b"])
    theirs = office_b.CreateHousehold(api.CreateHouseholdRequest(household=new)).id
    member = pb.CooperativeMember(household_id=theirs, share_permille=1000)
    cooperative = pb.Producer(
        kind=pb.PRODUCER_COOPERATIVE,
        display_name="Reaching cooperative",
        members=[member],
        village_id=world.ids["village_a"],
        location=pb.LatLng(latitude=23.7, longitude=117.2),
    )
    for producer in (factories.producer_for(theirs), cooperative):
        rpc_fails(
            lambda p=producer: office.CreateProducer(api.CreateProducerRequest(producer=p)),
            grpc.StatusCode.NOT_FOUND,
        )
    office_b.DeleteHousehold(api.DeleteHouseholdRequest(id=theirs))
    rpc_fails(
        lambda: office_b.GetHousehold(api.GetHouseholdRequest(id=theirs)), grpc.StatusCode.NOT_FOUND
    )


def _inline_run(bare, secret: str, run_id: str):
    problem = mpb.ProduceProblem(
        listings=[inline_listing("a", 100)], orders=[inline_order("o", 10)], today="2020-05-10"
    )
    return mpb_grpc.MatcherServiceStub(bare).MatchProduce(
        mpb.MatchProduceRequest(inline=problem, run_id=run_id),
        metadata=[("authorization", f"Bearer {secret}")],
        timeout=60,
    )


def test_same_run_id_from_two_keys_is_two_runs(bare, world, server):
    """Two platforms choosing one run_id get two runs (the second got ALREADY_EXISTS, which
    confirmed a run it could not see); each names its own run by it, and by it the other
    finds nothing. Each run records the key that made it, shown to admins and auditors."""
    twin = server.keys.create(Role.PLATFORM, world.ids["buyer_2"]).secret
    mine = _inline_run(bare, world.keys["platform"], "nightly-1")
    theirs = _inline_run(bare, twin, "nightly-1")
    assert mine.id != theirs.id and "nightly-1" not in (mine.id, theirs.id)
    assert mine.id == scoped_run_id("nightly-1", world.key_ids["platform"])  # bench/ relies on it
    stub = mpb_grpc.MatcherServiceStub(bare)
    for secret, expected in ((world.keys["platform"], mine.id), (twin, theirs.id)):
        auth = [("authorization", f"Bearer {secret}")]
        by_name = stub.GetMatchRun(mpb.GetMatchRunRequest(id="nightly-1"), metadata=auth)
        assert by_name.id == expected
        assert stub.GetMatchRun(mpb.GetMatchRunRequest(id=expected), metadata=auth).id == expected
    admin = [("authorization", f"Bearer {world.keys['admin']}")]
    rpc_fails(
        lambda: stub.GetMatchRun(mpb.GetMatchRunRequest(id="nightly-1"), metadata=admin),
        grpc.StatusCode.NOT_FOUND,
    )
    first, second = (
        stub.GetMatchRun(mpb.GetMatchRunRequest(id=r.id), metadata=admin) for r in (mine, theirs)
    )
    assert first.owner_key_id == world.key_ids["platform"] != second.owner_key_id != ""
    assert not mine.owner_key_id  # a platform is not shown key ids
    error = rpc_fails(lambda: _inline_run(bare, twin, "nightly-1"), grpc.StatusCode.ALREADY_EXISTS)
    assert fields_of(error) == ["run_id"]  # its own run_id again: its own clash only


def test_a_run_request_id_replays_only_the_same_request(bare, world):
    """The fingerprint is computed only for a request id (launch.py), and still compared: a
    retry answers the first run; the id with another problem is ALREADY_EXISTS; without an
    id, the same request twice is two runs."""
    stub = mpb_grpc.MatcherServiceStub(bare)
    keyed = [("authorization", f"Bearer {world.keys['admin']}")]

    def match(kg: int, request_id: str) -> mpb.MatchRun:
        problem = mpb.ProduceProblem(
            listings=[inline_listing("a", kg)], orders=[inline_order("o", 10)], today="2020-05-10"
        )
        request = mpb.MatchProduceRequest(inline=problem, request_id=request_id)
        return stub.MatchProduce(request, metadata=keyed, timeout=60)

    first = match(100, "fp-1")
    assert match(100, "fp-1").id == first.id
    failed = rpc_fails(lambda: match(101, "fp-1"), grpc.StatusCode.ALREADY_EXISTS)
    assert fields_of(failed) == ["request_id"]
    plain = match(100, "")
    assert plain.id not in {first.id, match(100, "").id}
