"""Two counties of registry data and a key for every role, for the access-control tests.

Zhao'an (350624, Fujian) and Puning (445281, Guangdong): a village, a household with a
distinctive name, income, health and disability, a household producer and a listing in each;
a cooperative in Zhao'an; two buyers with an order each; a cadre; an aid programme per county.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry.access.policy import POLICY, Role
from server.server import Running
from tests import factories

ZHAOAN, PUNING = factories.ZHAOAN, factories.PUNING
INCOME, HEALTH, DISABILITY = 123_457, 13, 17  # distinctive values to look for in responses


@dataclass
class World:
    ids: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # name -> secret
    key_ids: dict[str, str] = field(default_factory=dict)
    scopes: dict[str, str] = field(default_factory=dict)  # key name -> its scope
    names: list[str] = field(default_factory=list)  # household head names and card numbers


def build(registry: Any, server: Running) -> World:
    world = World()
    for county, tag in ((ZHAOAN, "a"), (PUNING, "b")):
        village = registry.CreateVillage(
            api.CreateVillageRequest(village=factories.village(admin_code=f"{county}001001"))
        )
        name, card = f"Secret Name {tag.upper()}", f"CARD-{tag.upper()}-0000001"
        household = registry.CreateHousehold(
            api.CreateHouseholdRequest(
                household=factories.household(
                    village.id,
                    head_name=name,
                    card_number=card,
                    indicators=factories.indicators(
                        income_per_capita_fen=INCOME, health=HEALTH, disability=DISABILITY
                    ),
                )
            )
        )
        producer = registry.CreateProducer(
            api.CreateProducerRequest(
                producer=factories.producer_for(
                    household.id, display_name=name, village_id=village.id
                )
            )
        )
        listing = registry.CreateListing(
            api.CreateListingRequest(listing=factories.listing(producer.id))
        )
        program = registry.CreateAidProgram(
            api.CreateAidProgramRequest(aid_program=factories.aid_program(region_code=county))
        )
        world.names += [name, card]
        world.ids.update(
            {
                f"village_{tag}": village.id,
                f"household_{tag}": household.id,
                f"producer_{tag}": producer.id,
                f"listing_{tag}": listing.id,
                f"aid_program_{tag}": program.id,
            }
        )
    coop = registry.CreateProducer(
        api.CreateProducerRequest(
            producer=pb.Producer(
                kind=pb.PRODUCER_COOPERATIVE,
                display_name="Plum cooperative",
                members=[
                    pb.CooperativeMember(household_id=world.ids["household_a"], share_permille=1000)
                ],
                village_id=world.ids["village_a"],
                location=pb.LatLng(latitude=23.7, longitude=117.2),
            )
        )
    )
    world.ids["coop"] = coop.id
    world.ids["coop_listing"] = registry.CreateListing(
        api.CreateListingRequest(listing=factories.listing(coop.id))
    ).id
    for tag in ("1", "2"):
        buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
        order = registry.CreateOrder(api.CreateOrderRequest(order=factories.order(buyer.id)))
        world.ids[f"buyer_{tag}"], world.ids[f"order_{tag}"] = buyer.id, order.id
    world.ids["cadre"] = registry.CreateCadre(api.CreateCadreRequest(cadre=factories.cadre())).id
    for name, role, scope in (
        ("admin", Role.ADMIN, ""),
        ("office", Role.OFFICE, ZHAOAN),
        ("office_b", Role.OFFICE, PUNING),
        ("cooperative", Role.COOPERATIVE, coop.id),
        ("platform", Role.PLATFORM, world.ids["buyer_1"]),
        ("auditor", Role.AUDITOR, ZHAOAN),
        ("auditor_all", Role.AUDITOR, ""),
    ):
        new = server.keys.create(role, scope)
        world.keys[name], world.key_ids[name] = new.secret, new.row.id
        world.scopes[name] = scope
    return world


def methods() -> Iterator[str]:
    """Every method of the policy table that needs a key."""
    for method, roles in POLICY.items():
        if roles:
            yield method


def method_descriptor(method: str) -> Any:
    service, name = method.strip("/").split("/")
    return descriptor_pool.Default().FindServiceByName(service).methods_by_name[name]


def message_class(descriptor: Any) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)  # type: ignore[no-any-return]


def call(
    channel: grpc.Channel, method: str, request: Message | None, key: str | None
) -> tuple[grpc.StatusCode, list[Message], str]:
    """Call any method by name with any request; (code, responses, error details)."""
    descriptor = method_descriptor(method)
    request_type = message_class(descriptor.input_type)
    response_type = message_class(descriptor.output_type)
    request = request if request is not None else request_type()
    kwargs = {
        "request_serializer": lambda m: m.SerializeToString(),
        "response_deserializer": response_type.FromString,
    }
    metadata = [("authorization", f"Bearer {key}")] if key else []
    streaming_in, streaming_out = descriptor.client_streaming, descriptor.server_streaming
    try:
        if streaming_in:
            stub = channel.stream_unary(method, **kwargs)
            responses = [stub(iter([request]), timeout=20, metadata=metadata)]
        elif streaming_out:
            stub = channel.unary_stream(method, **kwargs)
            responses = list(stub(request, timeout=20, metadata=metadata))
        else:
            stub = channel.unary_unary(method, **kwargs)
            responses = [stub(request, timeout=20, metadata=metadata)]
    except grpc.RpcError as error:
        return error.code(), [], error.details() or ""
    return grpc.StatusCode.OK, responses, ""
