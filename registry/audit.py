"""The audit log: one event per call whose response carried household records.

Written by the guard (registry/guard.py) before the response leaves, in its own transaction;
read by admins and auditors through AccessService.ListAuditEvents. An auditor with a scope sees
the events that touched a household of a county its scope lies in or covers (events keep
county codes, not village codes, so a township-level auditor sees its whole county's events:
ids only, no personal data).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, select
from sqlalchemy.exc import OperationalError
from sqlmodel import col

from registry import models
from registry.access import Principal, Role
from registry.errors import InvalidArgument, Unavailable
from registry.query import Page, next_token
from registry.redact import Seen
from registry.store import RegistryStore

FILTERS: dict[str, tuple[str, type]] = {
    "key_id": ("key_id", str),
    "rpc": ("rpc", str),
    "household_id": ("household_id", str),
}


class AuditWriter:
    """Writes audit events. On PostgreSQL through a small pool of its own whose sessions skip
    the synchronous WAL flush (`synchronous_commit = off`, for these connections only), one
    autocommitted INSERT each: a read pays one round trip, not a disk flush. The event is
    still crash-safe as a whole; a PostgreSQL crash within ~0.2 s could lose it."""

    def __init__(self, store: RegistryStore) -> None:
        self.store = store
        self.engine: Engine | None = None
        if store.engine.dialect.name == "postgresql":
            self.engine = create_engine(
                store.engine.url, pool_size=4, max_overflow=8, isolation_level="AUTOCOMMIT"
            )
            event.listen(self.engine, "connect", _no_sync_commit)

    def record(self, principal: Principal, rpc: str, request_id: str, seen: Seen) -> None:
        values = {
            "time": models.utcnow(),
            "key_id": principal.key_id,
            "role": principal.role.value,
            "rpc": rpc[:120],
            "request_id": request_id[:100],
            "household_ids": _joined(seen.household_ids),
            "county_codes": _joined(sorted(seen.county_codes)),
        }
        statement = insert(models.AuditEvent).values(**values)
        if self.engine is None:
            with self.store.transaction(write=True) as session:
                session.execute(statement)
            return
        try:
            with self.engine.connect() as connection:
                connection.execute(statement)
        except OperationalError as exc:
            raise Unavailable("the audit log is unavailable; retry later") from exc

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


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
        if not page.after.isdigit():
            raise InvalidArgument.one("page_token", "is not a token this server issued")
        stmt = stmt.where(col(table.id) > int(page.after))
    with store.transaction() as session:
        rows = list(session.scalars(stmt.limit(page.size + 1)))
    more = len(rows) > page.size
    rows = rows[: page.size]
    return rows, next_token(page, str(rows[-1].id)) if more else ""
