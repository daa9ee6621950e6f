"""Page tokens of every List are signed: a forged or altered one is INVALID_ARGUMENT naming
page_token, never INTERNAL and never a page (registry/resources/query.py)."""

from __future__ import annotations

import base64
import json

import grpc
import pytest

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from registry.resources.query import filter_hash
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails

LISTS = [
    (api_grpc.RegistryServiceStub, "ListVillages", api.ListVillagesRequest),
    (api_grpc.RegistryServiceStub, "ListHouseholds", api.ListHouseholdsRequest),
    (api_grpc.RegistryServiceStub, "ListWatchlist", api.ListWatchlistRequest),
    (lpb_grpc.LedgerServiceStub, "ListLedgerEntries", lpb.ListLedgerEntriesRequest),
    (apb_grpc.AccessServiceStub, "ListAuditEvents", apb.ListAuditEventsRequest),
    (apb_grpc.AccessServiceStub, "ListApiKeys", apb.ListApiKeysRequest),
    (mpb_grpc.MatcherServiceStub, "ListMatchRuns", mpb.ListMatchRunsRequest),
]


def unsigned(after: str, filter_text: str = "") -> str:
    """A token as a caller could make one: the right shape, no valid signature."""
    raw = json.dumps({"a": after, "f": filter_hash(filter_text)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


FORGED = [
    unsigned("abc"),
    unsigned("9" * 25),
    unsigned("1"),
    unsigned("0") + ".AAAAAAAAAAAAAAAAAAAAAAAA",
    "x" * 5000,
    "页码",
]


@pytest.mark.parametrize(("stub", "method", "request_type"), LISTS, ids=[m for _, m, _ in LISTS])
def test_forged_page_tokens_are_invalid(channel, stub, method, request_type):
    """Non-numeric, 25-digit, well-formed but unsigned, badly signed, huge and non-ASCII
    tokens all answer INVALID_ARGUMENT naming page_token."""
    call = getattr(stub(channel), method)
    for token in FORGED:
        error = rpc_fails(
            lambda t=token: call(request_type(page_token=t)), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert fields_of(error) == ["page_token"], token


def test_issued_tokens_still_page(registry):
    """A token the server issued pages on; the same token with one character changed does not."""
    made = [factories.create_village(registry).id for _ in range(3)]
    first = registry.ListVillages(api.ListVillagesRequest(page_size=2))
    rest = registry.ListVillages(
        api.ListVillagesRequest(page_size=2, page_token=first.next_page_token)
    )
    seen = [v.id for v in first.villages] + [v.id for v in rest.villages]
    assert set(made) <= set(seen)
    token = first.next_page_token
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    rpc_fails(
        lambda: registry.ListVillages(api.ListVillagesRequest(page_token=altered)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
