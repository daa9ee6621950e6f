"""The audit log: one event per call whose response carried household records.

Recorded by the guard (server/guard.py) before the response leaves — and by the servicers of
exports, whose rows name households without carrying Household messages (`record_export`) —
and written by a background thread in batches (see AuditWriter); read by admins and auditors through
AccessService.ListAuditEvents, which first writes whatever is pending. An auditor with a scope sees
the events that touched a household of a county its scope lies in or covers (events keep
county codes, not village codes, so a township-level auditor sees its whole county's events:
ids only, no personal data). Events whose response named households only by id (aid grants,
ledger entries, exports) get their households' counties when written, so a county's auditor
sees them too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, create_engine, event, insert, select
from sqlmodel import col

from registry.access.policy import Principal, Role, current
from registry.access.redaction import Seen
from registry.errors import InvalidArgument, Unavailable
from registry.resources import models
from registry.resources.bulk import QUERY_CHUNK
from registry.resources.query import Page, next_token
from registry.resources.requests import request_id_of
from registry.resources.store import RegistryStore

FILTERS: dict[str, tuple[str, type]] = {
    "key_id": ("key_id", str),
    "rpc": ("rpc", str),
    "household_id": ("household_id", str),
}


log = structlog.get_logger(__name__)


class AuditWriter:
    """Writes audit events in batches from a thread of its own.

    A read of household records only queues its event (microseconds); the writer inserts
    whatever is queued in one statement, every `flush_s` at most. Writing each event inside
    the read cost a round trip (~0.7 ms on PostgreSQL), more than the read itself.

    What this trades, and what it keeps:
    - an event reaches the database within ~flush_s of the read; a crash of the server process
      loses at most the events of that window (PostgreSQL's own crash: see below);
    - reads fail closed: while the database refuses the writes, or `max_pending` events are
      waiting, reads of household records fail with UNAVAILABLE instead of going unlogged;
    - ListAuditEvents flushes first, so a query sees every read made before it.

    On PostgreSQL the writer has a connection of its own whose session skips the synchronous
    WAL flush (`synchronous_commit = off`): a PostgreSQL crash within ~0.2 s of a write could
    lose that batch."""

    def __init__(
        self, store: RegistryStore, *, flush_s: float = 0.02, max_pending: int = 10_000
    ) -> None:
        self.store = store
        self.flush_s = flush_s
        self.max_pending = max_pending
        self.engine: Engine | None = None
        if store.engine.dialect.name == "postgresql":
            self.engine = create_engine(
                store.engine.url, pool_size=1, max_overflow=1, isolation_level="AUTOCOMMIT"
            )
            event.listen(self.engine, "connect", _no_sync_commit)
        self._pending: deque[dict[str, Any]] = deque()
        self._written = 0  # events written so far (flush waits for the count it needs)
        self._queued = 0
        self._failing = False
        self._closed = False
        self._hurry = False  # a flush waits: write what is queued without gathering more
        self._gathering = False  # the writer waits for a batch to gather: records need not wake it
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def record(self, principal: Principal, rpc: str, request_id: str, seen: Seen) -> None:
        """Queue one event; Unavailable when events cannot be written now (fail closed)."""
        values = {
            "time": models.utcnow(),
            "key_id": principal.key_id,
            "role": principal.role.value,
            "rpc": rpc[:120],
            "request_id": request_id[:100],
            "household_ids": _joined(seen.household_ids),
            "county_codes": _joined(sorted(seen.county_codes)),
        }
        with self._lock:
            if self._closed or self._failing or len(self._pending) >= self.max_pending:
                raise Unavailable("the audit log is unavailable; retry later")
            self._pending.append(values)
            self._queued += 1
            if not self._gathering:  # waking it for each event wrote batches of one
                self._lock.notify_all()

    def flush(self, timeout_s: float = 10.0) -> None:
        """Return once every event queued before the call is written (Unavailable if not)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            wanted = self._queued
            self._hurry = True
            self._lock.notify_all()
            while self._written < wanted:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise Unavailable("the audit log is unavailable; retry later")
                self._lock.wait(left)

    def close(self) -> None:
        """Write what is queued, stop the thread, release the connection."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._thread.join(10)
        if self.engine is not None:
            self.engine.dispose()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._lock.wait()
                if not self._pending:
                    return  # closed and drained
                batch = list(self._pending)
                self._hurry = False
            try:
                self._write(batch)
            except Exception as exc:  # the database is away: keep the events, retry
                log.warning("audit_write_failed", events=len(batch), error=str(exc)[:200])
                with self._lock:
                    self._failing = True
                    if self._closed:
                        return
                    self._lock.wait(0.5)
                continue
            with self._lock:
                for _ in batch:
                    self._pending.popleft()
                self._written += len(batch)
                self._failing = False
                self._lock.notify_all()
                self._gather()

    def _gather(self) -> None:
        """Wait flush_s for the next batch to gather (the lock held), unless closed or a flush
        waits. Each event used to wake the writer (record's notify): under a stream of Gets
        every batch was one event, an INSERT per Get, and the writer's thread had about half
        the handlers' CPU, competing with them for the GIL and the cores."""
        deadline = time.monotonic() + self.flush_s
        self._gathering = True
        try:
            while not (self._closed or self._hurry):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._lock.wait(left)
        finally:
            self._gathering = False

    def _write(self, batch: list[dict[str, Any]]) -> None:
        statement = insert(models.AuditEvent)
        if self.engine is None:
            with self.store.transaction(write=True) as session:
                session.execute(statement, _with_counties(session.connection(), batch))
            return
        with self.engine.connect() as connection:
            connection.execute(statement, _with_counties(connection, batch))


def _with_counties(connection: Connection, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events, those without county codes given their households' counties (households
    deleted since keep none)."""
    bare = [values for values in batch if values["county_codes"] == _joined([])]
    ids = sorted({h for values in bare for h in split(values["household_ids"])})
    county: dict[str, str] = {}
    hh, village = models.Household, models.Village
    for start in range(0, len(ids), QUERY_CHUNK):
        stmt = (
            select(col(hh.id), col(village.county_code))
            .join(village, col(village.id) == col(hh.village_id))
            .where(col(hh.id).in_(ids[start : start + QUERY_CHUNK]))
        )
        county.update({h: c for h, c in connection.execute(stmt)})
    for values in bare:
        found = {county[h] for h in split(values["household_ids"]) if h in county}
        values["county_codes"] = _joined(sorted(found))
    return batch


def record_export(
    writer: AuditWriter | None, rpc: str, context: Any, household_ids: list[str]
) -> None:
    """An export's rows that name these households, audited before they leave (Unavailable
    when the audit log cannot take the event: the export stops, unlogged rows unsent)."""
    if writer is None or not household_ids:
        return
    writer.record(current(), rpc, request_id_of(context), Seen(household_ids))


def _no_sync_commit(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET synchronous_commit = off")
    cursor.close()
    dbapi_connection.commit()


def _joined(values: list[str]) -> str:
    return "," + ",".join(values) + ","


def split(text: str) -> list[str]:
    return [v for v in text.split(",") if v]


def list_events(
    store: RegistryStore, principal: Principal, *, page: Page, where: dict[str, Any]
) -> tuple[list[models.AuditEvent], str]:
    """Oldest first; an auditor's scope narrows the query itself."""
    table = models.AuditEvent
    stmt = select(table).order_by(col(table.id))
    for column in ("key_id", "rpc"):
        if column in where:
            stmt = stmt.where(getattr(table, column) == where[column])
    if "household_id" in where:
        stmt = stmt.where(
            col(table.household_ids).contains(f",{where['household_id']},", autoescape=True)
        )
    if principal.role is Role.AUDITOR and principal.scope:
        county = principal.scope[:6]  # a county code, or the start of several
        stmt = stmt.where(col(table.county_codes).contains(f",{county}", autoescape=True))
    if page.after:
        if not (page.after.isdigit() and len(page.after) <= 18):
            raise InvalidArgument.one("page_token", "is not a token this server issued")
        stmt = stmt.where(col(table.id) > int(page.after))
    with store.transaction() as session:
        rows = list(session.scalars(stmt.limit(page.size + 1)))
    more = len(rows) > page.size
    rows = rows[: page.size]
    return rows, next_token(page, str(rows[-1].id)) if more else ""
