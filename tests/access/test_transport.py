"""TLS, mutual TLS, the loopback rule, and the limits: message size, page size, rate per key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest

from clients.auth import open_channel, tls_credentials
from clients.cli import main
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from registry.access.policy import Role
from server.server import InsecureAddress, Running, create_server
from server.settings import Settings
from tests import factories
from tests.access import certs
from tests.rpcerrors import fields_of, rpc_fails


@contextmanager
def own_server(tmp_path, **settings) -> Iterator[tuple[Running, str]]:
    """A server of its own (SQLite) with these settings, and an admin key for it."""
    running = create_server(
        Settings(database_url=f"sqlite:///{tmp_path / 'own.db'}", address="127.0.0.1:0", **settings)
    )
    running.server.start()
    try:
        yield running, running.keys.create(Role.ADMIN).secret
    finally:
        running.server.stop(0).wait()
        running.store.engine.dispose()


def villages(channel: grpc.Channel) -> api.ListVillagesResponse:
    return api_grpc.RegistryServiceStub(channel).ListVillages(api.ListVillagesRequest(), timeout=5)


@pytest.mark.slow
def test_tls_and_mutual_tls(tmp_path):
    """With a certificate the server speaks TLS only; with a client CA it also wants a client
    certificate from that CA."""
    ca, server_pair, client_pair = certs.make(tmp_path)
    (tmp_path / "other").mkdir()
    other_ca, _, stranger = certs.make(tmp_path / "other", "other CA")
    tls = {"tls_cert_file": server_pair.cert, "tls_key_file": server_pair.key}
    with own_server(tmp_path, **tls) as (running, key):
        target = f"127.0.0.1:{running.port}"
        with open_channel(target, api_key=key, credentials=tls_credentials(ca.cert)) as channel:
            assert villages(channel).villages == []
        with open_channel(target, api_key=key) as plaintext:
            rpc_fails(lambda: villages(plaintext), grpc.StatusCode.UNAVAILABLE)
        with open_channel(target, api_key=key, credentials=tls_credentials(other_ca.cert)) as wrong:
            rpc_fails(lambda: villages(wrong), grpc.StatusCode.UNAVAILABLE)
    (tmp_path / "own.db").unlink()
    with own_server(tmp_path, **tls, tls_client_ca_file=ca.cert) as (running, key):
        target = f"127.0.0.1:{running.port}"
        mutual = tls_credentials(ca.cert, client_pair.cert, client_pair.key)
        with open_channel(target, api_key=key, credentials=mutual) as channel:
            assert villages(channel).villages == []
        with open_channel(target, api_key=key, credentials=tls_credentials(ca.cert)) as anonymous:
            rpc_fails(lambda: villages(anonymous), grpc.StatusCode.UNAVAILABLE)
        foreign = tls_credentials(ca.cert, stranger.cert, stranger.key)
        with open_channel(target, api_key=key, credentials=foreign) as channel:
            rpc_fails(lambda: villages(channel), grpc.StatusCode.UNAVAILABLE)
        with open_channel(target, credentials=mutual) as no_key:
            rpc_fails(lambda: villages(no_key), grpc.StatusCode.UNAUTHENTICATED)


def test_plaintext_only_on_loopback(tmp_path, monkeypatch):
    """A non-loopback address without TLS is refused unless insecure is set; fupin serve says
    why and exits 2."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", address="0.0.0.0:0")
    with pytest.raises(InsecureAddress, match="refusing plaintext"):
        create_server(settings)
    assert not (tmp_path / "x.db").exists()  # refused before touching anything
    monkeypatch.setenv("FUPIN_LOG_LEVEL", "warning")
    code = main(
        ["serve", "--address", "0.0.0.0:0", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"]
    )
    assert code == 2
    with own_server(tmp_path, insecure=True) as (running, _):
        assert running.port > 0


@pytest.mark.slow
def test_rate_limit_per_key(tmp_path):
    """A key past its burst gets RESOURCE_EXHAUSTED naming the limit; another key is not
    slowed by it."""
    with own_server(tmp_path, rate_limit_per_s=0.5, rate_limit_burst=3) as (running, key):
        target = f"127.0.0.1:{running.port}"
        other = running.keys.create(Role.ADMIN).secret
        with (
            open_channel(target, api_key=key) as channel,
            open_channel(target, api_key=other) as calm,
        ):
            for _ in range(3):
                villages(channel)
            error = rpc_fails(lambda: villages(channel), grpc.StatusCode.RESOURCE_EXHAUSTED)
            assert "0.5 calls/s" in error.details() and "bursts of 3" in error.details()
            assert villages(calm).villages == []


@pytest.mark.slow
def test_message_size_limit(tmp_path):
    """A request over max_message_mb is refused with RESOURCE_EXHAUSTED, nothing stored."""
    with own_server(tmp_path, max_message_mb=1) as (running, key):
        channel = open_channel(f"127.0.0.1:{running.port}", api_key=key)
        stub = api_grpc.RegistryServiceStub(channel)
        big = factories.village(needs=["x" * 1000] * 1500)
        rpc_fails(
            lambda: stub.CreateVillage(api.CreateVillageRequest(village=big), timeout=10),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
        assert villages(channel).villages == []
        channel.close()


def test_page_size_limit(registry):
    """A page size above 1000 is INVALID_ARGUMENT naming page_size and the limit."""
    error = rpc_fails(
        lambda: registry.ListVillages(api.ListVillagesRequest(page_size=1001)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["page_size"] and "1000" in error.details()


@pytest.mark.slow
def test_problem_size_limit(tmp_path):
    """A matching problem over the configured size is RESOURCE_EXHAUSTED naming the limit."""
    with own_server(tmp_path, max_problem_listings=2) as (running, key):
        channel = open_channel(f"127.0.0.1:{running.port}", api_key=key)
        stub = mpb_grpc.MatcherServiceStub(channel)
        listing = mpb.InlineListing(
            product="p",
            grade="A",
            quantity_kg=10,
            available_from="2020-05-01",
            available_until="2020-05-02",
            shelf_life_days=3,
        )
        listings = [mpb.InlineListing(id=f"l{i}") for i in range(3)]
        for item in listings:
            item.MergeFrom(listing)
        request = mpb.MatchProduceRequest(
            inline=mpb.ProduceProblem(listings=listings, today="2020-05-01")
        )
        error = rpc_fails(
            lambda: stub.MatchProduce(request, timeout=20), grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        assert "at most 2 listings" in error.details() and "max_problem_listings" in error.details()
        channel.close()


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("127.8.9.10:1", True),
        ("[::1]:50051", True),
        ("unix:/tmp/fupin.sock", True),
        ("127.0.0.1.evil.example:50051", False),
        ("127.attacker.net:443", False),
        ("localhost:50051", False),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        ("10.0.0.1:50051", False),
    ],
)
def test_loopback_is_decided_on_ip_literals(address, loopback):
    """A host name is never trusted to be loopback, whatever it starts with."""
    from clients.auth import is_loopback

    assert is_loopback(address) is loopback
