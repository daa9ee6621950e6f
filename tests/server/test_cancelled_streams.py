"""Streams whose clients go away: plain streaming handlers (imports, the transparency export,
keyless reflection) run on the pool, dispatched from the event loop (server/dispatch.py), so
that cancelling them at any point neither crashes the server nor holds a thread or an
admission ticket, and a cancelled import stores nothing."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from sqlalchemy import func
from sqlmodel import Session, select

from bench import streams
from clients.auth import open_channel
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from registry.resources import models
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails
from tests.server.test_messages import ZH, _localized, _status
from tests.server.test_streams import busy_rpc_threads, failures, wait_for

LIST_SERVICES = reflection_pb2.ServerReflectionRequest(list_services="")
ENDED_BY_THE_CLIENT = {grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED}


def households_stored(running) -> int:
    """Households in the database, counted there (not through the API)."""
    with Session(running.store.engine) as session:
        return session.exec(select(func.count()).select_from(models.Household)).one()


def import_chunks(village_id: str, chunks: int, sent: threading.Event, hold: threading.Event):
    """`chunks` chunks of two valid households, then a stream that never ends (until hold)."""
    for _ in range(chunks):
        yield api.ImportHouseholdsRequest(
            households=[factories.household(village_id) for _ in range(2)]
        )
    sent.set()
    hold.wait(60)


def reflection_requests(count: int, hold: threading.Event) -> Iterator[Any]:
    yield from [LIST_SERVICES] * count
    hold.wait(60)


def test_a_storm_of_cancelled_streams_leaves_the_server_whole(tmp_path):
    """Four threads in the pool. Four admin imports take them and wait for their first chunk;
    60 keyless reflection streams, exports and imports queue behind them and are cancelled
    there; the four imports are cancelled and their threads come back while their clients
    still hold the streams open. Then 150 imports (cancelled before their first chunk,
    midway, or by their deadline), exports and keyless reflection streams (cancelled before
    or between answers), 12 at a time, seeded. Afterwards: no thread busy, no call counted
    in flight, nothing stored by a cancelled import, nothing answered INTERNAL or UNKNOWN;
    Health/Check, a read and a whole import answer."""
    bounds = {"max_workers": 4, "max_calls_per_key": 3, "max_calls": 3}
    with streams.own_server(tmp_path, **bounds) as running:
        world = streams.setup(running)
        target = f"127.0.0.1:{running.port}"
        assert running.keys is not None
        admin = running.keys.create(streams.Role.ADMIN).secret
        admin_channel = open_channel(target, api_key=admin)
        keyless = grpc.insecure_channel(target)
        registry = api_grpc.RegistryServiceStub(admin_channel)
        ledger = lpb_grpc.LedgerServiceStub(admin_channel)
        reflection = reflection_pb2_grpc.ServerReflectionStub(keyless)
        village = factories.create_village(registry)
        before = households_stored(running)
        hold = threading.Event()
        seen: list[grpc.StatusCode] = []
        try:
            waiting = [
                registry.ImportHouseholds.future(
                    import_chunks(village.id, 0, threading.Event(), hold), timeout=60
                )
                for _ in range(4)
            ]
            wait_for(lambda: busy_rpc_threads() == 4)  # the pool is full
            queued = [
                *(reflection.ServerReflectionInfo(iter([LIST_SERVICES])) for _ in range(20)),
                *(ledger.ExportTransparency(lpb.ExportTransparencyRequest()) for _ in range(20)),
                *(
                    registry.ImportHouseholds.future(
                        import_chunks(village.id, 1, threading.Event(), hold)
                    )
                    for _ in range(20)
                ),
            ]
            for call in queued:
                call.cancel()
            for call in waiting:
                call.cancel()
            # Their handlers waited for a message: the cancellation wakes them, not the end
            # of a stream (their clients' streams are still open, waiting on `hold`).
            wait_for(lambda: busy_rpc_threads() == 0)
            storm = _Storm(registry, ledger, reflection, village.id, hold)
            with ThreadPoolExecutor(max_workers=12) as clients:
                seen += clients.map(storm.one, range(150))
        finally:
            hold.set()
        wait_for(lambda: busy_rpc_threads() == 0)
        wait_for(lambda: streams.in_flight(running.metrics, "calls") == 0)
        assert set(seen) <= ENDED_BY_THE_CLIENT | {
            grpc.StatusCode.OK,  # an export or reflection that ended before its cancel
            grpc.StatusCode.RESOURCE_EXHAUSTED,  # keyless reflection beyond its address's bound
        }, seen
        assert households_stored(running) == before
        assert failures(running.metrics) == {}
        check = health_pb2_grpc.HealthStub(keyless).Check(health_pb2.HealthCheckRequest())
        assert check.status == health_pb2.HealthCheckResponse.SERVING
        got = registry.GetHousehold(api.GetHouseholdRequest(id=world.household_id), timeout=30)
        assert got.id == world.household_id
        rows = [factories.household(village.id) for _ in range(5)]
        done = registry.ImportHouseholds(iter([api.ImportHouseholdsRequest(households=rows)]))
        assert done.imported == 5
        assert households_stored(running) == before + 5
        admin_channel.close()
        keyless.close()


class _Storm:
    """One call each, its kind and the moment its client leaves drawn from a seeded random."""

    def __init__(self, registry, ledger, reflection, village_id: str, hold: threading.Event):
        self.registry, self.ledger, self.reflection = registry, ledger, reflection
        self.village_id, self.hold = village_id, hold

    def one(self, n: int) -> grpc.StatusCode:
        draw = random.Random(n)
        kinds: list[Callable[[random.Random], Any]] = [
            self.import_cancelled,
            self.import_expired,
            self.export_cancelled,
            self.reflection_cancelled,
        ]
        try:
            draw.choice(kinds)(draw).result(timeout=60)
        except grpc.RpcError as error:
            return error.code()
        except grpc.FutureCancelledError:
            return grpc.StatusCode.CANCELLED
        return grpc.StatusCode.OK

    def import_cancelled(self, draw: random.Random):
        """Cancelled before its first chunk, or after one to three of them."""
        sent = threading.Event()
        chunks = draw.choice([0, 0, 1, 2, 3])
        call = self.registry.ImportHouseholds.future(
            import_chunks(self.village_id, chunks, sent, self.hold), timeout=60
        )
        if chunks:
            sent.wait(30)
        time.sleep(draw.uniform(0, 0.05))
        call.cancel()
        return call

    def import_expired(self, draw: random.Random):
        """A deadline of 10 to 200 ms: it may run out queued, or while the handler waits."""
        return self.registry.ImportHouseholds.future(
            import_chunks(self.village_id, draw.choice([0, 1]), threading.Event(), self.hold),
            timeout=draw.uniform(0.01, 0.2),
        )

    def export_cancelled(self, draw: random.Random):
        """Cancelled at once (queued, or mid-export) or after its first chunk."""
        call = self.ledger.ExportTransparency(lpb.ExportTransparencyRequest(), timeout=60)
        if draw.random() < 0.5:
            next(call, None)
        time.sleep(draw.uniform(0, 0.02))
        call.cancel()
        return _Drained(call)

    def reflection_cancelled(self, draw: random.Random):
        """Asks up to three times without a key; cancelled before an answer or between."""
        asked = draw.randint(1, 3)
        call = self.reflection.ServerReflectionInfo(
            reflection_requests(asked, self.hold), timeout=60
        )
        for _ in range(draw.randint(0, asked)):
            next(call)
        call.cancel()
        return _Drained(call)


class _Drained:
    """A response stream read to its end: raises the RpcError it ended with, if any."""

    def __init__(self, call) -> None:
        self.call = call

    def result(self, timeout: float) -> None:
        for _ in self.call:
            pass


def test_a_handler_waiting_for_a_chunk_is_released_when_its_client_leaves(tmp_path):
    """An import sends two chunks and then neither sends nor ends: its handler holds a thread,
    waiting. The client cancels; the thread comes back while the client's stream is still
    open, the call is logged CANCELLED, its ticket returned, and none of its rows stored
    (before, grpc's bridge ended the handler's stream as if it were whole: the rows were
    stored and the call logged OK)."""
    with streams.own_server(tmp_path, max_workers=4, max_calls=2) as running:
        world = streams.setup(running)
        target = f"127.0.0.1:{running.port}"
        before = households_stored(running)
        hold, sent = threading.Event(), threading.Event()
        with open_channel(target, api_key=world.office_key) as office:
            registry = api_grpc.RegistryServiceStub(office)
            village_id = registry.GetHousehold(
                api.GetHouseholdRequest(id=world.household_id)
            ).village_id
            call = registry.ImportHouseholds.future(
                import_chunks(village_id, 2, sent, hold), timeout=60
            )
            try:
                assert sent.wait(30)
                # Both together: the GetHousehold before may still hold its thread a moment
                # after answering (busy 1 while the import has no thread, no ticket yet).
                wait_for(
                    lambda: (
                        busy_rpc_threads() == 1 and streams.in_flight(running.metrics, "calls") == 1
                    )
                )
                call.cancel()
                wait_for(lambda: busy_rpc_threads() == 0)
                wait_for(lambda: streams.in_flight(running.metrics, "calls") == 0)
            finally:
                hold.set()
        assert households_stored(running) == before
        assert _handled(running.metrics, "ImportHouseholds") == {"CANCELLED": 1.0}


def test_cancelled_exports_hold_no_thread_and_the_server_stops(tmp_path):
    """Five transparency exports, each cancelled as soon as it is sent: afterwards no thread
    of the pool is busy, no call is in flight, and the server stops at once (before, grpc's
    bridge left an export's thread waiting for good for the loop to take its last item, and
    the server's stop waited for that thread)."""
    with streams.own_server(tmp_path, max_workers=8) as running:
        assert running.keys is not None
        admin = running.keys.create(streams.Role.ADMIN).secret
        with open_channel(f"127.0.0.1:{running.port}", api_key=admin) as channel:
            ledger = lpb_grpc.LedgerServiceStub(channel)
            for _ in range(5):
                ledger.ExportTransparency(lpb.ExportTransparencyRequest(), timeout=30).cancel()
                time.sleep(0.1)
            wait_for(lambda: busy_rpc_threads() == 0)
            wait_for(lambda: streams.in_flight(running.metrics, "calls") == 0)
            whole = list(ledger.ExportTransparency(lpb.ExportTransparencyRequest(), timeout=30))
            assert whole[0].data.startswith(b"seq,")
        assert running.server.stop(0).wait(10)


def test_an_import_through_the_pool_stores_its_rows_and_names_a_bad_field(registry, server):
    """Seven rows in three chunks are stored (counted in the database); a bad row is
    INVALID_ARGUMENT naming its index and field, in English and, asked, in Chinese, and
    nothing of that import is stored."""
    village = factories.create_village(registry)
    rows = [factories.household(village.id) for _ in range(7)]
    chunks = [rows[0:3], rows[3:6], rows[6:]]
    done = registry.ImportHouseholds(
        iter(api.ImportHouseholdsRequest(households=chunk) for chunk in chunks)
    )
    assert done.imported == 7 and len(set(done.ids)) == 7
    assert households_stored(server) == 7
    rows = [factories.household(village.id) for _ in range(3)]
    rows[1].members = 0
    error = rpc_fails(
        lambda: registry.ImportHouseholds(
            iter([api.ImportHouseholdsRequest(households=rows)]), metadata=ZH
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error)[0] == "households[1].members"
    status = _status(error)
    assert status.message.startswith("invalid argument: households[1].members: ")
    assert _localized(status).startswith("参数无效：households[1].members：")
    assert households_stored(server) == 7


def _handled(metrics, method: str) -> dict[str, float]:
    """RPCs of `method` the server has ended, by status code."""
    counts = {}
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == "fupin_rpc_handled_total" and s.labels["method"].endswith(method):
                counts[s.labels["code"]] = s.value
    return counts
