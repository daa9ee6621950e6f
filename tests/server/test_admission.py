"""Bounded calls in flight (server/admission.py): streams and slow calls from some callers
never keep Health/Check and admins waiting; beyond the bounds RESOURCE_EXHAUSTED at once."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fupin.registry.v1 import registry_service_pb2 as api
from registry.access.policy import Principal, Role
from registry.errors import Overloaded
from server.admission import HEALTH_CHECK, Admission, Bounds, peer_host
from server.server import create_server
from server.settings import Settings
from tests import factories

WATCH = "/grpc.health.v1.Health/Watch"


def test_per_key_and_total_bounds():
    """A key gets calls_per_key calls; all calls together `calls`; Health/Check and admins are
    never refused; a call that leaves frees its place. Waits are counted apart."""
    admission = Admission(Bounds(calls_per_key=2, calls=4, streams_per_key=3, streams=5))
    one, two, three = (Principal(f"k{i}", Role.PLATFORM) for i in range(3))
    held = [admission.enter("/m", one, waits=False), admission.enter("/m", one, waits=False)]
    with pytest.raises(Overloaded, match="calls in flight"):
        admission.enter("/m", one, waits=False)
    held += [admission.enter("/m", two, waits=False), admission.enter("/m", two, waits=False)]
    with pytest.raises(Overloaded, match="server is at its limit of 4 calls"):
        admission.enter("/m", three, waits=False)
    assert admission.enter(HEALTH_CHECK, None, waits=False) is None
    assert admission.enter("/m", Principal("root", Role.ADMIN), waits=True) is None
    admission.leave(held.pop())
    ticket = admission.enter("/m", three, waits=False)
    assert ticket is not None and ticket.key == "k2"
    # waits: their own bounds, per key (callers without a key: per address) and in all
    here = "ipv4:10.0.0.7:50123"
    waits = [admission.enter("/w", None, waits=True, peer=here) for _ in range(3)]
    with pytest.raises(Overloaded, match=r"this address .* max_streams_per_key"):
        admission.enter("/w", None, waits=True, peer="ipv4:10.0.0.7:50999")  # its other port
    waits += [admission.enter("/w", one, waits=True) for _ in range(2)]
    with pytest.raises(Overloaded, match="limit of 5 streams"):
        admission.enter("/w", two, waits=True)
    assert admission.in_flight() == (4, 5)
    for ticket in waits:
        admission.leave(ticket)
    assert admission.in_flight() == (4, 0)


def test_max_calls_stays_below_the_threads():
    """max_calls defaults to max_workers - 4; set at or above max_workers it is refused (no
    thread would be left for admins)."""
    assert Settings(max_workers=32).calls_bound == 28
    assert Settings(max_workers=3).calls_bound == 1
    assert Settings(max_workers=16, max_calls=15).calls_bound == 15
    with pytest.raises(ValueError, match="max_calls must be below max_workers"):
        Settings(max_workers=16, max_calls=16)


def test_overloaded_carries_retry_info():
    """The refusal says when to retry (google.rpc.RetryInfo)."""
    status = Overloaded("busy", retry_s=1.5).to_status()
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.ToNanoseconds() == 1_500_000_000


def test_health_and_admin_answer_while_watch_streams_pile_up(server, registry):
    """40 Health/Watch streams without a key (16 took every thread once, and Health/Check
    timed out; then all beyond 12 were refused): all stay open, holding no thread, and
    Health/Check and an admin's GetHousehold answer."""
    village = factories.create_village(registry)
    household = factories.create_household(registry, village.id)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    health = health_pb2_grpc.HealthStub(channel)
    streams = [health.Watch(health_pb2.HealthCheckRequest(), timeout=60) for _ in range(40)]
    try:
        for stream in streams:
            assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
        answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        got = registry.GetHousehold(api.GetHouseholdRequest(id=household.id), timeout=10)
        assert got.id == household.id
        assert not any(stream.done() for stream in streams)
    finally:
        for stream in streams:
            stream.cancel()
        channel.close()


def test_keyless_callers_are_counted_per_address():
    """Without a key, each peer address has its own count (its ports are one address): one
    client at its bound leaves another address its own (they shared one count before)."""
    admission = Admission(Bounds(calls_per_key=2, calls=10, streams_per_key=2, streams=10))
    assert peer_host("ipv6:[::1]:41000") == "ipv6:[::1]" and peer_host("unix:/s") == "unix:/s"
    for _ in range(2):
        admission.enter(WATCH, None, waits=True, peer="ipv4:127.0.0.1:41000")
    with pytest.raises(Overloaded, match="without a key"):
        admission.enter(WATCH, None, waits=True, peer="ipv4:127.0.0.1:41001")
    other = admission.enter(WATCH, None, waits=True, peer="ipv6:[::1]:41002")
    assert other is not None and other.key == "peer:ipv6:[::1]"


def test_one_keyless_client_leaves_another_its_streams(tmp_path):
    """A real server with max_streams_per_key 3, on 127.0.0.1 and on ::1 (two peer
    addresses): a client holding 3 keyless Health/Watch streams is refused a fourth at once,
    and a client at the other address still watches."""
    running = create_server(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'peers.db'}",
            address="127.0.0.1:0",
            max_streams_per_key=3,
            grace_s=1,
        )
    )
    v6 = running.server.add_insecure_port("[::1]:0")
    running.start()
    request = health_pb2.HealthCheckRequest()
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{running.port}") as one,
            grpc.insecure_channel(f"[::1]:{v6}") as other,
        ):
            greedy = health_pb2_grpc.HealthStub(one)
            held = [greedy.Watch(request, timeout=60) for _ in range(3)]
            for stream in held:
                assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as refused:
                next(greedy.Watch(request, timeout=60))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "without a key" in str(refused.value.details())
            theirs = health_pb2_grpc.HealthStub(other).Watch(request, timeout=60)
            assert next(theirs).status == health_pb2.HealthCheckResponse.SERVING
            for stream in [*held, theirs]:
                stream.cancel()
    finally:
        running.server.stop(0).wait()
        running.close()
