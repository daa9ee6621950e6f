"""Streams and calls that wait hold no thread (server/loop.py): a thousand streams and a hundred
MatchProduce calls from one key leave another key's calls and Health/Check answering, and
waits beyond their bounds are refused at once with retry info (server/admission.py)."""

from __future__ import annotations

import sys
import threading
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from bench import streams
from clients.auth import open_channel
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import year_service_pb2 as ypb
from fupin.registry.v1 import year_service_pb2_grpc as ypb_grpc

GENEROUS_S = 10.0  # a bound no answer comes near unless calls queue behind the waits


def failures(metrics) -> dict[str, float]:
    """RPCs the server answered INTERNAL or UNKNOWN, by method."""
    bad = {}
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == "fupin_rpc_handled_total" and s.labels["code"] in ("INTERNAL", "UNKNOWN"):
                bad[s.labels["method"]] = s.value
    return bad


@pytest.mark.slow
@pytest.mark.xdist_group("storm")
def test_a_thousand_streams_and_a_hundred_match_produce_leave_other_keys_answering(tmp_path):
    """500 keyless Health/Watch and 500 WatchMatchRun streams of a platform key, and 100
    MatchProduce calls of that key, all in flight at once (before: beyond 12 calls in all and
    8 per key they were refused, and earlier still they took every thread). An office's
    GetHousehold and a keyless Health/Check keep answering, every one well within
    GENEROUS_S; every stream stays open, every MatchProduce ends PROPOSED, nothing INTERNAL."""
    with streams.own_server(tmp_path) as running:
        world = streams.setup(running)
        with streams.Storm(world, streams=1000, matches=100) as storm:
            assert len(storm.open) == 1000  # each gave its first message: admitted, open
            times = streams.sample(world, rounds=40, metrics=running.metrics)
            assert min(times["waits"]) >= 1000  # the streams were open at every sample
            assert storm.still_open() == 1000
            answers = storm.results()
        assert max(times["get_household"] + times["health_check"]) < GENEROUS_S
        errors = [a for a in answers if isinstance(a, grpc.RpcError)]
        assert not errors, {(e.code(), e.details()) for e in errors}
        assert [a.state for a in answers] == [mpb.PROPOSED] * 100
        assert len({a.id for a in answers}) == 100
        assert failures(running.metrics) == {}


def test_waits_beyond_their_bounds_are_refused_at_once_with_retry_info(tmp_path):
    """max_streams_per_key 5 and max_streams 8: a sixth keyless Watch is refused
    RESOURCE_EXHAUSTED with RetryInfo, naming the setting; an office key's WatchAlerts get
    the three places left, the fourth is refused by the server-wide bound. Health/Check and
    an admin's calls still answer; a stream that ends frees its place."""
    with streams.own_server(tmp_path, max_streams_per_key=5, max_streams=8) as running:
        world = streams.setup(running)
        target = f"127.0.0.1:{running.port}"
        with (
            open_channel(target) as anyone,
            open_channel(target, api_key=world.office_key) as office,
        ):
            health = health_pb2_grpc.HealthStub(anyone)
            watches = [health.Watch(health_pb2.HealthCheckRequest(), timeout=60) for _ in range(5)]
            for watch in watches:
                next(watch)
            refused = health.Watch(health_pb2.HealthCheckRequest(), timeout=60)
            started = time.perf_counter()
            error = refused_with_retry_info(refused)
            assert time.perf_counter() - started < GENEROUS_S  # refused, not timed out
            assert "max_streams_per_key" in error.details()
            year = ypb_grpc.YearServiceStub(office)
            alerts = [year.WatchAlerts(ypb.WatchAlertsRequest(), timeout=60) for _ in range(3)]
            for stream in alerts:
                stream.initial_metadata()  # subscribed
            error = refused_with_retry_info(year.WatchAlerts(ypb.WatchAlertsRequest(), timeout=60))
            assert "max_streams" in error.details()
            check = health.Check(health_pb2.HealthCheckRequest(), timeout=GENEROUS_S)
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            watches.pop().cancel()
            for _ in range(100):  # the server hears of the cancellation soon after
                if streams.in_flight(running.metrics, "streams") < 8:
                    break
                time.sleep(0.05)
            again = health.Watch(health_pb2.HealthCheckRequest(), timeout=60)
            assert next(again).status == health_pb2.HealthCheckResponse.SERVING
            for stream in [*watches, *alerts, again]:
                stream.cancel()


def test_calls_on_threads_beyond_their_bounds_are_refused_and_admins_still_answer(tmp_path):
    """Client streams an office never finishes hold a thread each: max_calls_per_key of them
    are admitted, the next is refused at once with RetryInfo; with max_calls reached by two
    keys, a third key is refused too, while an admin's call and Health/Check answer."""
    bounds = {"max_workers": 6, "max_calls_per_key": 2, "max_calls": 4}
    with streams.own_server(tmp_path, **bounds) as running:
        world = streams.setup(running)
        target = f"127.0.0.1:{running.port}"
        assert running.keys is not None
        second = running.keys.create(streams.Role.OFFICE, "445281").secret
        third = running.keys.create(streams.Role.OFFICE, "445222").secret
        admin = running.keys.create(streams.Role.ADMIN).secret
        hold = threading.Event()

        def chunks():
            yield api.ImportHouseholdsRequest()
            hold.wait(60)

        channels = [open_channel(target, api_key=k) for k in (world.office_key, second, third)]
        imports = [api_grpc.RegistryServiceStub(c).ImportHouseholds for c in channels]
        held = []
        try:
            for n in range(4):
                held.append(imports[n // 2].future(chunks(), timeout=60))
                wait_for(lambda n=n: streams.in_flight(running.metrics, "calls") == n + 1)
            extra = imports[0].future(chunks(), timeout=60)
            error = refused_with_retry_info_call(extra)
            assert "max_calls_per_key" in error.details()
            error = refused_with_retry_info_call(imports[2].future(chunks(), timeout=60))
            assert "limit of 4 calls" in error.details()
            with open_channel(target, api_key=admin) as root:
                got = api_grpc.RegistryServiceStub(root).GetHousehold(
                    api.GetHouseholdRequest(id=world.household_id), timeout=GENEROUS_S
                )
                assert got.id == world.household_id
            check = health_pb2_grpc.HealthStub(channels[2]).Check(
                health_pb2.HealthCheckRequest(), timeout=GENEROUS_S
            )
            assert check.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            hold.set()
            for call in held:
                call.cancel()
            for channel in channels:
                channel.close()


def test_a_refusal_takes_no_thread(tmp_path):
    """max_workers 3, max_calls_per_key 2: an office holds two threads with client streams
    it never finishes and an admin the third, so no thread is free. The office's next
    GetHousehold is refused at once, on the event loop (its refusal waited for a thread
    before, and the caller saw DEADLINE_EXCEEDED instead)."""
    bounds = {"max_workers": 3, "max_calls_per_key": 2, "max_calls": 2}
    with streams.own_server(tmp_path, **bounds) as running:
        world = streams.setup(running)
        target = f"127.0.0.1:{running.port}"
        assert running.keys is not None
        admin = running.keys.create(streams.Role.ADMIN).secret
        hold = threading.Event()

        def chunks():
            yield api.ImportHouseholdsRequest()
            hold.wait(60)

        office_channel = open_channel(target, api_key=world.office_key)
        admin_channel = open_channel(target, api_key=admin)
        office = api_grpc.RegistryServiceStub(office_channel)
        root = api_grpc.RegistryServiceStub(admin_channel)
        read = api.GetHouseholdRequest(id=world.household_id)
        held = []
        try:
            for n in range(2):
                held.append(office.ImportHouseholds.future(chunks(), timeout=60))
                wait_for(lambda n=n: streams.in_flight(running.metrics, "calls") == n + 1)
            held.append(root.ImportHouseholds.future(chunks(), timeout=60))
            wait_for(lambda: busy_rpc_threads() == 3)  # no thread free
            started = time.perf_counter()
            with pytest.raises(grpc.RpcError) as refused:
                office.GetHousehold(read, timeout=GENEROUS_S)
            checked_refusal(refused.value)
            assert "max_calls_per_key" in refused.value.details()
            assert time.perf_counter() - started < GENEROUS_S / 2
        finally:
            hold.set()
            for call in held:
                call.cancel()
            office_channel.close()
            admin_channel.close()


def busy_rpc_threads() -> int:
    """Threads of the calls' pool (server/loop.py) running a handler, not waiting for one.
    Read from the threads' frames: a probe call left queued behind busy threads, once its
    client gave up, would be read on a thread after its end (grpc.aio: a segfault)."""
    frames = sys._current_frames()
    return sum(
        1
        for thread in threading.enumerate()
        if thread.name.startswith("rpc")
        and thread.ident in frames
        and frames[thread.ident].f_code.co_name != "_worker"
    )


def wait_for(condition, timeout_s: float = GENEROUS_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.02)


def refused_with_retry_info_call(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call.result(timeout=GENEROUS_S)
    return checked_refusal(caught.value)


def refused_with_retry_info(stream) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        next(stream)
    return checked_refusal(caught.value)


def checked_refusal(error: grpc.RpcError) -> grpc.RpcError:
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    status = rpc_status.from_call(error)
    assert status is not None
    assert status.details[0].Is(error_details_pb2.RetryInfo.DESCRIPTOR)
    return error
