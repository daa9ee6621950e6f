"""A database outage, for real: the server's own PostgreSQL database refuses connections.

`ALTER DATABASE … ALLOW_CONNECTIONS false` plus terminating its sessions makes exactly this
test's database unreachable (every other test keeps its own), and undoing it brings it back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import create_engine, event, make_url, select, text

from bench.registry import database
from clients.client import HOUSEHOLDS, VILLAGES, RegistryClient
from clients.errors import UnavailableError
from matcher.service.source import CadreItem, GrantRecord, RunState
from registry.access.policy import Role
from registry.resources import models
from registry.runs.aid import AID_KIND
from registry.runs.cadres import STATIONING_KIND
from server import grpc_source
from server.server import Running, create_server
from server.settings import Settings
from tests import factories
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.postgres


class Outage:
    """Cuts and restores one database."""

    def __init__(self, url: str) -> None:
        self.name = make_url(url).database
        self.admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def cut(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": self.name},
            )

    def restore(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))


@pytest.fixture
def outage_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Running, Outage]]:
    with database("postgres", POSTGRES_ADMIN_URL) as url:
        settings = Settings(database_url=url, address="127.0.0.1:0", grace_s=1, health_probe_s=0.1)
        running = create_server(settings)
        assert running.keys is not None
        monkeypatch.setenv("FUPIN_API_KEY", running.keys.create(Role.ADMIN).secret)
        running.server.start()
        running.probe.start()
        outage = Outage(url)
        try:
            yield running, outage
        finally:
            outage.restore()
            running.server.stop(0).wait()
            running.close()
            outage.admin.dispose()


def wait_status(running: Running, status: int, service: str = "", timeout_s: float = 10) -> float:
    """Seconds until the server's health reports status (fails after timeout_s)."""
    started = time.perf_counter()
    with_channel = RegistryClient(f"127.0.0.1:{running.port}")
    stub = health_pb2_grpc.HealthStub(with_channel._channel)
    try:
        while time.perf_counter() - started < timeout_s:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
            if reply.status == status:
                return time.perf_counter() - started
            time.sleep(0.02)
    finally:
        with_channel.close()
    raise AssertionError(f"health never became {status} in {timeout_s} s")


def test_health_goes_not_serving_and_back(outage_server):
    """NOT_SERVING while the database is unreachable, SERVING again once it returns."""
    running, outage = outage_server
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, 2
    wait_status(running, serving)
    outage.cut()
    wait_status(running, not_serving)
    wait_status(running, not_serving, "fupin.registry.v1.RegistryService", timeout_s=1)
    outage.restore()
    wait_status(running, serving)
    wait_status(running, serving, "fupin.matcher.v1.MatcherService", timeout_s=1)


def test_reads_are_retried_through_an_outage_and_updates_are_not(outage_server):
    """An update during the outage fails UNAVAILABLE and changes nothing; a Get whose first
    attempt meets the outage is retried by the channel and succeeds once the database is back."""
    running, outage = outage_server
    failures: list[str] = []

    def on_error(context) -> None:  # the server's real failure, seen by SQLAlchemy
        failures.append(type(context.original_exception).__name__)
        threading.Thread(target=outage.restore).start()

    with RegistryClient(f"127.0.0.1:{running.port}", timeout_s=10) as client:
        village = client.create(VILLAGES, factories.village(display_name="Before"))
        outage.cut()
        renamed = factories.village(display_name="After")
        renamed.id, renamed.etag = village.id, village.etag
        with pytest.raises(UnavailableError):
            client.update(VILLAGES, renamed, ["display_name"])
        event.listen(running.store.engine, "handle_error", on_error)
        try:
            again = client.get(VILLAGES, village.id)
        finally:
            event.remove(running.store.engine, "handle_error", on_error)
    assert failures, "the Get never met the outage"
    assert again.display_name == "Before" and again.etag == village.etag


def test_a_household_get_meets_the_outage_as_unavailable_and_recovers(outage_server):
    """GetHousehold reads on psycopg's own cursor: the outage is UNAVAILABLE, not INTERNAL,
    and the Gets after it are answered (the broken connections left the pool)."""
    running, outage = outage_server
    with RegistryClient(f"127.0.0.1:{running.port}", timeout_s=10) as client:
        village = client.create(VILLAGES, factories.village())
        household = client.create(HOUSEHOLDS, factories.household(village.id))
        assert client.get(HOUSEHOLDS, household.id) == household  # the pool holds connections
        outage.cut()
        with pytest.raises(UnavailableError):
            client.get(HOUSEHOLDS, household.id)
        outage.restore()
        assert [client.get(HOUSEHOLDS, household.id) for _ in range(3)] == [household] * 3


def test_a_runs_end_is_retried_through_an_outage(outage_server):
    """StoreGrants, UpdateRun and FinishCadreRun whose first attempt meets the outage
    (UNAVAILABLE) are retried by the matcher's channel: once the database is back the grants
    and items are stored once and the runs end PROPOSED instead of staying RUNNING."""
    running, outage = outage_server
    remote, handle = grpc_source.connect(f"127.0.0.1:{running.port}", timeout_s=30)
    failures: list[str] = []

    def on_error(context) -> None:
        failures.append(type(context.original_exception).__name__)
        threading.Thread(target=outage.restore).start()

    grants = [GrantRecord("hh-1", "prog-1", 100), GrantRecord("hh-2", "prog-1", 200)]
    proposed = {"state": RunState.PROPOSED, "total_s": 0.1}
    endings = [
        lambda: remote.store_grants("aid-out", grants),
        lambda: remote.update_run("aid-out", **proposed),
        lambda: remote.finish_cadre_run(
            "st-out", items=[CadreItem("cadre-1", 1, village_id="v-1")], **proposed
        ),
    ]
    try:
        for run_id, kind in (("aid-out", AID_KIND), ("st-out", STATIONING_KIND)):
            remote.create_run(run_id=run_id, kind=kind, parameters=b"", owner="me",
                              request_id="", fingerprint="")  # fmt: skip
            remote.update_run(run_id, state=RunState.RUNNING)
        event.listen(running.store.engine, "handle_error", on_error)
        try:
            for i, end in enumerate(endings):
                outage.cut()
                end()
                assert len(failures) > i, f"call {i} never met the outage"
        finally:
            event.remove(running.store.engine, "handle_error", on_error)
        assert [remote.get_run(r).state for r in ("aid-out", "st-out")] == [RunState.PROPOSED] * 2
        with running.store.transaction() as session:
            stored = session.scalars(select(models.RunGrant)).all()
            assert sorted((g.household_id, g.amount_fen) for g in stored) == [
                ("hh-1", 100),
                ("hh-2", 200),
            ]
            assert len(session.scalars(select(models.RunCadreItem)).all()) == 1
    finally:
        handle.close()
