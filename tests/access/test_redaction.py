"""Personal data: a platform key never receives a household's name, card, income, health or
disability from any RPC; an auditor's responses are masked; reads of households are audited."""

from __future__ import annotations

import grpc
from google.protobuf.message import Message

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry.access.redaction import MASKED
from tests.access import runs
from tests.access.world import (
    DISABILITY,
    HEALTH,
    INCOME,
    call,
    message_class,
    method_descriptor,
    methods,
)

_R = "/fupin.registry.v1.RegistryService/"
_M = "/fupin.matcher.v1.MatcherService/"
TODAY = "2020-05-05"
KIND_IDS = {
    "Village": "village_a",
    "Household": "household_a",
    "Producer": "producer_a",
    "Listing": "listing_a",
    "Buyer": "buyer_1",
    "Order": "order_1",
    "Cadre": "cadre",
    "AidProgram": "aid_program_a",
}


def households_in(message: Message) -> list[pb.Household]:
    """Every Household message inside message, however deep."""
    if isinstance(message, pb.Household):
        return [message]
    found = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for item in value if field.is_repeated else [value]:
            if isinstance(item, Message):
                found += households_in(item)
    return found


def requests_for(world) -> dict[str, Message]:
    """A meaningful request for each RPC that reads (real ids, a real match)."""
    requests: dict[str, Message] = {}
    for title, key in KIND_IDS.items():
        requests[f"{_R}Get{title}"] = getattr(api, f"Get{title}Request")(id=world.ids[key])
    order = mpb.InlineOrder(
        product="green_plum",
        accepted_grades=["A"],
        max_quantity_kg=3000,
        price_fen=300,
        location=pb.LatLng(latitude=23.3, longitude=116.2),
        deliver_by="2020-06-10",
    )
    requests[f"{_M}QuickSource"] = mpb.QuickSourceRequest(order=order, today=TODAY)
    requests[f"{_M}MatchProduce"] = mpb.MatchProduceRequest(
        selection=mpb.RegistrySelection(product="green_plum", today=TODAY),
        parameters=mpb.SolveParameters(time_limit_s=10),
        run_id="run-redaction",
    )
    for name in ("GetMatchRun", "WatchMatchRun"):
        requests[f"{_M}{name}"] = message_class(method_descriptor(f"{_M}{name}").input_type)(
            id="run-redaction"
        )
    return requests


def test_platform_gets_no_household_data_from_any_rpc(bare, world):
    """Every RPC, called with a platform key and real ids: no response (nor error) holds a
    household's name or card number, and no Household in it holds name, income, health or
    disability. Listings and the match still come through, with poverty classes."""
    admin_runs = runs.make(bare, world, "admin", "secret")  # they name households and causes
    requests = requests_for(world)
    ordered = sorted(methods(), key=lambda m: m.endswith(("GetMatchRun", "WatchMatchRun")))
    answered = {}
    for method in ordered:
        code, responses, details = call(bare, method, requests.get(method), world.keys["platform"])
        answered[method] = code
        blob = b"".join(r.SerializeToString() for r in responses) + details.encode()
        for secret in world.names:
            assert secret.encode() not in blob, (method, secret)
        for household in (h for r in responses for h in households_in(r)):
            assert not household.head_name and not household.card_number, method
            indicators = household.indicators
            assert (indicators.income_per_capita_fen, indicators.health) == (0, 0), method
            assert indicators.disability not in (DISABILITY,), method
    assert answered[f"{_M}MatchProduce"] == grpc.StatusCode.OK
    assert answered[f"{_M}QuickSource"] == grpc.StatusCode.OK
    assert answered[f"{_R}GetListing"] == grpc.StatusCode.OK
    assert answered[f"{_R}GetHousehold"] == grpc.StatusCode.PERMISSION_DENIED
    _, (quick,), _ = call(
        bare, f"{_M}QuickSource", requests[f"{_M}QuickSource"], world.keys["platform"]
    )
    assert quick.candidates and all(c.poverty_class for c in quick.candidates)
    household_ids = [world.ids["household_a"], world.ids["household_b"]]
    for run in admin_runs:
        assert runs.not_found_like_unknown(bare, world, "platform", run.id) == []
        for rpc in runs.RUN_RPCS:
            _, responses, details = call(
                bare, f"{_M}{rpc}", runs.named(rpc, run.id), world.keys["platform"]
            )
            blob = b"".join(r.SerializeToString() for r in responses) + details.encode()
            assert not any(h.encode() in blob for h in household_ids), (rpc, run.id)
    [own] = runs.listed(bare, world, "platform")  # stored scoped to the key that chose it
    by_name = runs.named("GetMatchRun", "run-redaction")
    _, (named,), _ = call(bare, f"{_M}GetMatchRun", by_name, world.keys["platform"])
    assert named.id == own


def test_platform_sees_household_producers_without_identity(bare, world):
    """A household producer reaches a platform nameless, without its household id, and a
    cooperative without its members."""
    _, (page,), _ = call(bare, f"{_R}ListProducers", None, world.keys["platform"])
    by_id = {p.id: p for p in page.producers}
    grower = by_id[world.ids["producer_a"]]
    assert grower.display_name == MASKED and not grower.household_id
    assert not by_id[world.ids["coop"]].members
    _, (full,), _ = call(bare, f"{_R}ListProducers", None, world.keys["admin"])
    assert {p.id: p for p in full.producers}[world.ids["coop"]].members


def test_auditor_reads_masked_households(bare, world):
    """An auditor's households have name, card, health, disability and income masked; the
    status and score stay, as do an admin's unmasked copies."""
    _, (page,), _ = call(bare, f"{_R}ListHouseholds", None, world.keys["auditor"])
    (household,) = page.households
    assert household.head_name == MASKED and household.card_number == MASKED
    indicators = household.indicators
    assert (indicators.health, indicators.disability, indicators.income_per_capita_fen) == (
        -1,
        -1,
        -1,
    )
    assert household.status and household.score and household.history
    assert all(change.reason == MASKED for change in household.history)
    request = api.GetProducerRequest(id=world.ids["producer_a"])
    _, (producer,), _ = call(bare, f"{_R}GetProducer", request, world.keys["auditor"])
    assert producer.display_name == MASKED
    _, (plain,), _ = call(
        bare, f"{_R}GetHousehold", api.GetHouseholdRequest(id=household.id), world.keys["admin"]
    )
    assert plain.indicators.income_per_capita_fen == INCOME and plain.indicators.health == HEALTH


def test_household_reads_are_audited(bare, world):
    """Each read of household records is logged with key, role, RPC and households; the
    Zhao'an auditor sees the Zhao'an read and not the Puning one."""
    call(
        bare,
        f"{_R}GetHousehold",
        api.GetHouseholdRequest(id=world.ids["household_a"]),
        world.keys["office"],
    )
    call(bare, f"{_R}ListHouseholds", None, world.keys["office_b"])
    _, (page,), _ = call(
        bare, "/fupin.registry.v1.AccessService/ListAuditEvents", None, world.keys["admin"]
    )
    reads = [
        (e.key_id, e.role, e.rpc.rsplit("/", 1)[-1], list(e.household_ids))
        for e in page.events
        if e.key_id in world.key_ids.values()
    ]
    assert (
        world.key_ids["office"],
        apb.OFFICE,
        "GetHousehold",
        [world.ids["household_a"]],
    ) in reads
    assert (
        world.key_ids["office_b"],
        apb.OFFICE,
        "ListHouseholds",
        [world.ids["household_b"]],
    ) in reads
    request = apb.ListAuditEventsRequest(filter=f'household_id = "{world.ids["household_b"]}"')
    _, (mine,), _ = call(
        bare, "/fupin.registry.v1.AccessService/ListAuditEvents", request, world.keys["auditor"]
    )
    assert mine.events == []
    _, (theirs,), _ = call(
        bare, "/fupin.registry.v1.AccessService/ListAuditEvents", request, world.keys["auditor_all"]
    )
    assert [e.key_id for e in theirs.events if e.key_id in world.key_ids.values()] == [
        world.key_ids["office_b"]
    ]


def test_masking_reaches_households_anywhere():
    """Should a household ever reach a platform (an RPC added later), all but its status is
    cleared, and an auditor's copy is masked; the ids are collected for the audit either way."""
    from registry.access.policy import Role
    from registry.access.redaction import Seen, process

    def response():
        household = pb.Household(
            id="hh-1",
            head_name="Name",
            card_number="C1",
            county_code="350624",
            status=pb.IMPOVERISHED,
            indicators=pb.HouseholdIndicators(health=5, disability=6, income_per_capita_fen=7),
        )
        return api.ListWatchlistResponse(entries=[api.WatchlistEntry(household=household)])

    seen = Seen()
    platform = response()
    process(platform, Role.PLATFORM, seen)
    assert platform.entries[0].household == pb.Household(status=pb.IMPOVERISHED)
    assert seen.household_ids == ["hh-1"] and seen.county_codes == {"350624"}
    auditor = response()
    process(auditor, Role.AUDITOR, Seen())
    masked = auditor.entries[0].household
    assert (masked.head_name, masked.indicators.income_per_capita_fen) == (MASKED, -1)
