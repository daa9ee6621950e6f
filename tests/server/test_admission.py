"""Bounded calls in flight (server/admission.py): streams and slow calls from some callers
never keep Health/Check and admins waiting; beyond the bounds RESOURCE_EXHAUSTED at once."""

from __future__ import annotations

import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from fupin.registry.v1 import registry_service_pb2 as api
from registry.access.policy import Principal, Role
from registry.errors import Overloaded
from server.admission import HEALTH_CHECK, Admission
from tests import factories

WATCH = "/grpc.health.v1.Health/Watch"


def test_per_key_and_total_bounds():
    """A key gets per_key calls; all ordinary calls together max_workers - reserved; Health/
    Check and admins are never refused; a call that leaves frees its place."""
    admission = Admission(max_workers=6, per_key=2, reserved=2)
    one, two, three = (Principal(f"k{i}", Role.PLATFORM) for i in range(3))
    held = [admission.enter("/m", one), admission.enter("/m", one)]
    with pytest.raises(Overloaded, match="calls in flight"):
        admission.enter("/m", one)
    held += [admission.enter("/m", two), admission.enter("/m", two)]
    with pytest.raises(Overloaded, match="server is at its limit"):
        admission.enter("/m", three)
    assert admission.enter(HEALTH_CHECK, None) is None
    assert admission.enter("/m", Principal("root", Role.ADMIN)) is None
    admission.leave(held.pop())
    assert admission.enter("/m", three) == "k2"


def test_overloaded_carries_retry_info():
    """The refusal says when to retry (google.rpc.RetryInfo)."""
    status = Overloaded("busy", retry_s=1.5).to_status()
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.ToNanoseconds() == 1_500_000_000


def test_health_and_admin_answer_while_watch_streams_pile_up(server, registry):
    """40 Health/Watch streams without a key (16 took every thread before, and Health/Check
    timed out): the first ones stay open, the rest are refused at once with RetryInfo, and
    Health/Check and an admin's GetHousehold answer within a second."""
    village = factories.create_village(registry)
    household = factories.create_household(registry, village.id)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    health = health_pb2_grpc.HealthStub(channel)
    streams, refused = [], 0
    try:
        for _ in range(40):
            stream = health.Watch(health_pb2.HealthCheckRequest(), timeout=60)
            try:
                next(stream)
                streams.append(stream)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                status = rpc_status.from_call(error)
                assert status is not None and status.details[0].Is(
                    error_details_pb2.RetryInfo.DESCRIPTOR
                )
                refused += 1
        assert streams and refused
        started = time.perf_counter()
        answer = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        got = registry.GetHousehold(api.GetHouseholdRequest(id=household.id), timeout=5)
        assert got.id == household.id and time.perf_counter() - started < 1.0
    finally:
        for stream in streams:
            stream.cancel()
        channel.close()
