"""The typed client against a real server: errors, pages, idempotent retries, imports."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from clients.auth import open_channel
from clients.client import HOUSEHOLDS, LISTINGS, VILLAGES, RegistryClient, retried_methods
from clients.errors import (
    AbortedError,
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import resources_pb2 as pb
from tests import factories


@pytest.fixture
def client(server):
    with RegistryClient(f"127.0.0.1:{server.port}", timeout_s=5) as client:
        yield client


class Flaky(api_grpc.RegistryServiceServicer):
    """Forwards to the real server, then answers UNAVAILABLE the first `failures` times.

    That is a response lost on the way back: the server stored the data, the client never heard.
    """

    def __init__(self, upstream: api_grpc.RegistryServiceStub, failures: int = 1) -> None:
        self.upstream = upstream
        self.failures = failures
        self.request_ids: list[str] = []

    def CreateVillage(self, request, context):
        self.request_ids.append(request.request_id)
        return self._lose(self.upstream.CreateVillage(request), context)

    def ImportHouseholds(self, request_iterator, context):
        chunks = list(request_iterator)
        self.request_ids.append(chunks[0].request_id)
        return self._lose(self.upstream.ImportHouseholds(iter(chunks)), context)

    def _lose(self, response, context):
        if len(self.request_ids) <= self.failures:
            context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset (simulated)")
        return response


@pytest.fixture
def flaky(server, admin_key):
    """A Flaky proxy in front of the server, and a client talking to it."""
    with open_channel(f"127.0.0.1:{server.port}", api_key=admin_key) as upstream:
        flaky = Flaky(api_grpc.RegistryServiceStub(upstream))  # type: ignore[abstract]
        proxy = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        api_grpc.add_RegistryServiceServicer_to_server(flaky, proxy)
        port = proxy.add_insecure_port("127.0.0.1:0")
        proxy.start()
        with RegistryClient(f"127.0.0.1:{port}", timeout_s=5) as client:
            yield flaky, client
        proxy.stop(0).wait()


def test_invalid_argument_carries_field_violations(client):
    """A household with bad fields raises InvalidArgumentError naming each field."""
    village = client.create(VILLAGES, factories.village())
    bad = factories.household(village.id, members=0, head_name="")
    with pytest.raises(InvalidArgumentError) as caught:
        client.create(HOUSEHOLDS, bad)
    fields = [field for field, _ in caught.value.field_violations]
    assert set(fields) == {"household.head_name", "household.members", "household.labour_force"}
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_not_found_and_stale_etag(client):
    """Get of a missing id is NotFoundError; an update with a stale etag is AbortedError."""
    with pytest.raises(NotFoundError):
        client.get(VILLAGES, "vil-missing")
    village = client.create(VILLAGES, factories.village())
    renamed = client.update(
        VILLAGES, pb.Village(id=village.id, display_name="New"), ["display_name"]
    )
    assert renamed.display_name == "New" and renamed.etag != village.etag
    stale = pb.Village(id=village.id, etag=village.etag, display_name="Old")
    with pytest.raises(AbortedError):
        client.update(VILLAGES, stale, ["display_name"])


def test_delete_then_get_is_not_found(client):
    """A deleted resource is gone."""
    village = client.create(VILLAGES, factories.village())
    client.delete(VILLAGES, village.id, etag=village.etag)
    with pytest.raises(NotFoundError):
        client.get(VILLAGES, village.id)


def test_list_walks_every_page(client):
    """With two per page, seven villages come back in id order across four pages."""
    ids = sorted(client.create(VILLAGES, factories.village()).id for _ in range(7))
    assert [v.id for v in client.list(VILLAGES, page_size=2)] == ids
    assert [v.id for v in client.list(VILLAGES, page_size=2, limit=3)] == ids[:3]
    assert list(client.list(VILLAGES, filter='county_code = "000000"')) == []


def test_create_with_same_request_id_stores_one(client):
    """Creating twice with one request_id returns the same village and stores one."""
    village = factories.village()
    first = client.create(VILLAGES, village, request_id="r-1")
    again = client.create(VILLAGES, village, request_id="r-1")
    assert again.id == first.id
    assert len(list(client.list(VILLAGES))) == 1


def test_lost_create_response_is_retried_by_the_channel(flaky, client):
    """A create whose response was lost is retried with its request_id; one village is stored."""
    proxy, via_proxy = flaky
    village = via_proxy.create(VILLAGES, factories.village())
    assert len(proxy.request_ids) == 2 and proxy.request_ids[0] == proxy.request_ids[1]
    assert [v.id for v in client.list(VILLAGES)] == [village.id]


def test_import_stream_is_resent_on_unavailable(flaky, client):
    """A lost import response makes the client resend the stream with the same request_id."""
    proxy, via_proxy = flaky
    village = client.create(VILLAGES, factories.village())
    rows = [factories.household(village.id) for _ in range(7)]
    progress: list[int] = []
    response = via_proxy.import_rows(HOUSEHOLDS, rows, chunk_size=3, on_progress=progress.append)
    assert response.imported == 7 and progress == [3, 6, 7]
    assert len(proxy.request_ids) == 2 and proxy.request_ids[0] == proxy.request_ids[1]
    assert len(list(client.list(HOUSEHOLDS))) == 7


def test_import_gives_up_after_repeated_unavailable(flaky, client, monkeypatch):
    """An import that keeps failing with UNAVAILABLE raises UnavailableError in the end."""
    monkeypatch.setattr("clients.client.IMPORT_BACKOFF_S", 0.01)
    proxy, via_proxy = flaky
    proxy.failures = 99
    village = client.create(VILLAGES, factories.village())
    with pytest.raises(UnavailableError):
        via_proxy.import_rows(HOUSEHOLDS, [factories.household(village.id)])
    assert len(proxy.request_ids) == 4


def test_import_is_all_or_nothing(client):
    """One bad row in the middle names households[ROW].FIELD, and nothing is stored."""
    village = client.create(VILLAGES, factories.village())
    rows = [factories.household(village.id) for _ in range(10)]
    rows[6].indicators.health = 101
    with pytest.raises(InvalidArgumentError) as caught:
        client.import_rows(HOUSEHOLDS, rows, chunk_size=4)
    assert caught.value.field_violations == [
        ("households[6].indicators.health", "must be between 0 and 100, got 101")
    ]
    assert list(client.list(HOUSEHOLDS)) == []


def test_import_of_unknown_village_names_the_row(client):
    """A row in a village that does not exist is NotFoundError naming the row."""
    village = client.create(VILLAGES, factories.village())
    rows = [factories.household(village.id) for _ in range(5)]
    rows[3].village_id = "vil-missing"
    with pytest.raises(NotFoundError) as caught:
        client.import_rows(HOUSEHOLDS, rows)
    assert [field for field, _ in caught.value.field_violations] == ["households[3].village_id"]
    assert list(client.list(HOUSEHOLDS)) == []


def test_import_twice_is_already_exists(client):
    """Importing the same card numbers again (new request_id) is AlreadyExistsError."""
    village = client.create(VILLAGES, factories.village())
    rows = [factories.household(village.id) for _ in range(3)]
    first = client.import_rows(HOUSEHOLDS, rows, request_id="batch-1")
    assert client.import_rows(HOUSEHOLDS, rows, request_id="batch-1").ids == first.ids
    with pytest.raises(AlreadyExistsError):
        client.import_rows(HOUSEHOLDS, rows)


def test_only_households_listings_and_cadres_import():
    """import_rows refuses kinds without an Import RPC before calling anything."""
    with RegistryClient("127.0.0.1:9", timeout_s=1) as client, pytest.raises(ValueError):
        client.import_rows(VILLAGES, [])
    assert LISTINGS.importable


def test_retry_policy_covers_idempotent_and_keyed_methods():
    """The service config retries Get/List/ListWatchlist and Create, never Update/Delete."""
    methods = retried_methods()
    assert {"GetHousehold", "ListHouseholds", "ListWatchlist", "CreateHousehold"} <= set(methods)
    assert not [m for m in methods if m.startswith(("Update", "Delete", "Import"))]


def test_unreachable_server_is_unavailable():
    """No server on the port: UnavailableError after the channel's retries."""
    with RegistryClient("127.0.0.1:9", timeout_s=3) as client, pytest.raises(UnavailableError):
        client.get(VILLAGES, "vil-1")
