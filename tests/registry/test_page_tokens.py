"""Page tokens of every List are signed: a forged or altered one is INVALID_ARGUMENT naming
page_token, never INTERNAL and never a page (registry/resources/query.py)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

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


# The filter text an unfiltered request's token is bound to, where it is not "": a forged
# token must carry it to get past the filter check to the key (ListLedgerEntries joins its
# three id filters; with "" only, the old ledger's INTERNAL on "abc" went unseen).
FILTER_TEXT = {"ListLedgerEntries": "||"}


@pytest.mark.parametrize(("stub", "method", "request_type"), LISTS, ids=[m for _, m, _ in LISTS])
def test_forged_page_tokens_are_invalid(channel, stub, method, request_type):
    """Non-numeric, 25-digit, well-formed but unsigned, badly signed, huge and non-ASCII
    tokens all answer INVALID_ARGUMENT naming page_token."""
    call = getattr(stub(channel), method)
    bound = FILTER_TEXT.get(method, "")
    for token in [unsigned("abc", bound), unsigned("9" * 25, bound), *FORGED]:
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


PROCESS = """
import sys
from registry.resources import query
page = query.parse_page(10, "", "")
if sys.argv[1] == "make":
    print(query.next_token(page, "vil-0042"))
else:
    print(query.parse_page(10, sys.argv[2], "").after)
"""


def test_processes_sharing_a_key_file_accept_each_others_tokens(tmp_path):
    """FUPIN_PAGE_TOKEN_KEY_FILE: eight processes starting at once agree on one key (made
    mode 600, no draft left behind), so a token one issues pages on at another (a registry
    replica or a matcher behind the same address); a process with its own key refuses it."""
    key_file = tmp_path / "keys" / "page-token.key"
    env = {**os.environ, "FUPIN_PAGE_TOKEN_KEY_FILE": str(key_file)}
    env.pop("FUPIN_PAGE_TOKEN_KEY", None)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS, "make"], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    tokens = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert len(tokens) == 1 and all(racer.returncode == 0 for racer in racers)
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["page-token.key"]
    (token,) = tokens
    other = subprocess.run(
        [sys.executable, "-c", PROCESS, "read", token], env=env, capture_output=True, text=True
    )
    assert other.returncode == 0 and other.stdout.strip() == "vil-0042", other.stderr
    env_alone = {k: v for k, v in env.items() if k != "FUPIN_PAGE_TOKEN_KEY_FILE"}
    alone = subprocess.run(
        [sys.executable, "-c", PROCESS, "read", token], env=env_alone, capture_output=True
    )
    assert alone.returncode != 0 and b"page_token" in alone.stderr


def test_a_key_file_from_the_settings_is_used(tmp_path, monkeypatch):
    """Settings(page_token_key_file=…) — from the environment or a config file — makes the
    server sign with that file's key, so another process sharing the file pages on."""
    from registry.resources import query
    from server.server import create_server
    from server.settings import Settings

    monkeypatch.setattr(query, "_SIGNING_KEY", query._SIGNING_KEY)  # restored after
    key_file = tmp_path / "page-token.key"
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'fupin.db'}",
        address="127.0.0.1:0",
        page_token_key_file=key_file,
    )
    running = create_server(settings)
    try:
        token = query.next_token(query.parse_page(10, "", ""), "vil-0042")
    finally:
        running.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUPIN_PAGE_TOKEN")}
    env["FUPIN_PAGE_TOKEN_KEY_FILE"] = str(key_file)
    other = subprocess.run(
        [sys.executable, "-c", PROCESS, "read", token], env=env, capture_output=True, text=True
    )
    assert other.returncode == 0 and other.stdout.strip() == "vil-0042", other.stderr


def _every_list() -> list[tuple[str, type]]:
    """Every public List RPC taking a page token, by its path and request class."""
    import importlib

    from google.protobuf import message_factory

    names = ["matcher.v1.matcher_service"]
    names += [f"registry.v1.{n}_service" for n in ("access", "cadre_work", "ledger", "registry")]
    names += [f"registry.v1.{n}_service" for n in ("season", "year")]
    modules = [importlib.import_module(f"fupin.{name}_pb2") for name in names]
    found = []
    for module in modules:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if (
                    method.name.startswith("List")
                    and "page_token" in method.input_type.fields_by_name
                ):
                    request = message_factory.GetMessageClass(method.input_type)
                    found.append((f"/{service.full_name}/{method.name}", request))
    return found


EVERY_LIST = _every_list()
REQUIRED = {
    "ListVisits": {"cadre_id": "cad-none"},
    "ListVillageIncome": {"year": 2020},
    "ListRunAllocations": {"parent": "run-none"},
    "ListRunUnsold": {"parent": "run-none"},
}


@pytest.mark.parametrize(("path", "request_type"), EVERY_LIST, ids=[p for p, _ in EVERY_LIST])
def test_every_lists_forged_tokens_are_invalid(channel, path, request_type):
    """The Lists of every public service, found from the descriptors (the list above named 7
    of them), refuse every forged token as INVALID_ARGUMENT naming page_token."""
    assert len(EVERY_LIST) >= 19
    call = channel.unary_unary(
        path,
        request_serializer=request_type.SerializeToString,
        response_deserializer=request_type.FromString,
    )
    required = REQUIRED.get(path.rsplit("/", 1)[1], {})
    for token in FORGED:
        error = rpc_fails(
            lambda t=token: call(request_type(page_token=t, **required), timeout=30),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert fields_of(error) == ["page_token"], (path, token, error.details())
