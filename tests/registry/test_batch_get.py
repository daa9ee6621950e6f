"""BatchGetResources: many ids of one kind in one call, as the kind's List would show them."""

from __future__ import annotations

import grpc

from clients.auth import open_channel
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from registry.access.policy import Role
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails


def test_found_ids_answered_once_unknown_left_out(registry):
    """Two villages asked for, one of them twice, and an unknown id: the two, once each."""
    a = factories.create_village(registry)
    b = factories.create_village(registry)
    request = api.BatchGetResourcesRequest(kind="villages", ids=[a.id, b.id, a.id, "vil-nobody"])
    found = registry.BatchGetResources(request).villages
    assert sorted(v.id for v in found) == sorted([a.id, b.id])


def test_bad_requests_name_the_field(registry):
    """An unknown kind, more than 1,000 ids, or a malformed id: INVALID_ARGUMENT naming it."""
    for request, field in (
        (api.BatchGetResourcesRequest(kind="people", ids=["x"]), "kind"),
        (api.BatchGetResourcesRequest(kind="villages", ids=["v"] * 1001), "ids"),
        (api.BatchGetResourcesRequest(kind="villages", ids=["ok", "no way"]), "ids[1]"),
    ):
        error = rpc_fails(
            lambda r=request: registry.BatchGetResources(r), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert fields_of(error) == [field]


def test_scope_and_policy_as_the_kinds_list(server, registry):
    """An office reads only its region's villages; a platform may not read households at all
    (PERMISSION_DENIED, as ListHouseholds); an auditor reads them with the head's name masked."""
    home = factories.create_village(registry)
    away = factories.create_village(registry, admin_code="445281001001")
    household = factories.create_household(registry, home.id)
    buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    secrets = {
        role: server.keys.create(role, scope).secret
        for role, scope in ((Role.OFFICE, factories.ZHAOAN), (Role.PLATFORM, buyer.id),
                            (Role.AUDITOR, ""))
    }  # fmt: skip
    target = f"127.0.0.1:{server.port}"
    with open_channel(target, api_key=secrets[Role.OFFICE]) as channel:
        stub = api_grpc.RegistryServiceStub(channel)
        request = api.BatchGetResourcesRequest(kind="villages", ids=[home.id, away.id])
        assert [v.id for v in stub.BatchGetResources(request).villages] == [home.id]
    ask = api.BatchGetResourcesRequest(kind="households", ids=[household.id])
    with open_channel(target, api_key=secrets[Role.PLATFORM]) as channel:
        stub = api_grpc.RegistryServiceStub(channel)
        rpc_fails(lambda: stub.BatchGetResources(ask), grpc.StatusCode.PERMISSION_DENIED)
    with open_channel(target, api_key=secrets[Role.AUDITOR]) as channel:
        stub = api_grpc.RegistryServiceStub(channel)
        [seen] = stub.BatchGetResources(ask).households
    assert seen.id == household.id and seen.head_name == "(masked)"
