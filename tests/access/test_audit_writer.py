"""The audit writer: events queued by reads reach the database in batches, a flush waits for
them, and reads fail closed (UNAVAILABLE) when events cannot be written."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, select

from registry import db
from registry.access.audit import AuditWriter
from registry.access.policy import Principal, Role
from registry.access.redaction import Seen
from registry.errors import Unavailable
from registry.resources import models
from registry.resources.scoring import ScoringConfig
from registry.resources.store import RegistryStore
from tests.conftest import POSTGRES_ADMIN_URL

WHO = Principal("key-test", Role.AUDITOR, "350624")


def seen(i: int) -> Seen:
    return Seen(household_ids=[f"hh-{i}"], county_codes={"350624"})


def stored_events(store: RegistryStore) -> int:
    """This test's events (the shared server's own writer may still be storing other tests')."""
    with store.transaction() as session:
        query = select(func.count()).where(models.AuditEvent.key_id == WHO.key_id)
        return int(session.scalar(query) or 0)


def test_events_are_written_in_batches_and_flush_waits_for_them(server):
    writer = AuditWriter(server.store, flush_s=0.05)
    try:
        for i in range(250):
            writer.record(WHO, "/fupin.registry.v1.RegistryService/GetHousehold", f"r{i}", seen(i))
        writer.flush()
        assert stored_events(server.store) == 250
    finally:
        writer.close()


def test_close_writes_what_is_queued(server):
    writer = AuditWriter(server.store, flush_s=5.0)  # would wait long before a second batch
    writer.record(WHO, "/x/GetHousehold", "r0", seen(0))
    writer.flush()
    for i in range(1, 40):
        writer.record(WHO, "/x/GetHousehold", f"r{i}", seen(i))
    writer.close()
    assert stored_events(server.store) == 40


def test_events_gather_until_the_batch_is_due_or_a_flush_asks(server):
    """Events recorded while the writer gathers wait for its batch (each used to wake the
    writer into a batch of its own, an INSERT per read); a flush writes them at once."""
    writer = AuditWriter(server.store, flush_s=600.0)
    try:
        writer.record(WHO, "/x/GetHousehold", "r0", seen(0))
        writer.flush()  # the first batch is written: the writer now gathers for 600 s
        for i in range(1, 30):
            writer.record(WHO, "/x/GetHousehold", f"r{i}", seen(i))
        time.sleep(0.3)  # long enough for an INSERT the events would wake
        assert stored_events(server.store) == 1
        writer.flush()
        assert stored_events(server.store) == 30
    finally:
        writer.close()


def record_many(writer: AuditWriter, count: int) -> None:
    for i in range(count):
        writer.record(WHO, "/x/GetHousehold", f"r{i}", seen(i))


def test_reads_fail_closed_when_the_log_cannot_be_written():
    """A database that does not exist: the first batch fails, and from then on (and once
    max_pending events wait) recording raises Unavailable instead of dropping events."""
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    engine = db.make_engine(f"{base}/fupin_missing_{uuid.uuid4().hex[:8]}")
    writer = AuditWriter(RegistryStore(engine, ScoringConfig.load()), max_pending=3)
    try:
        with pytest.raises(Unavailable):  # at the latest once max_pending events wait
            record_many(writer, 50)
        with pytest.raises(Unavailable):
            writer.flush(timeout_s=1.0)
    finally:
        writer.close()
        engine.dispose()
