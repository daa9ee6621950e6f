"""The audit log: one event per call whose response carried household records.

Written by the guard (registry/guard.py) before the response leaves, in its own transaction;
read by admins and auditors through AccessService.ListAuditEvents. An auditor with a scope sees
the events that touched a household of a county its scope lies in or covers (events keep
county codes, not village codes, so a township-level auditor sees its whole county's events:
ids only, no personal data).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlmodel import col

from registry import models
from registry.access import Principal, Role
from registry.errors import InvalidArgument
from registry.query import Page, next_token
from registry.redact import Seen
from registry.store import RegistryStore

FILTERS: dict[str, tuple[str, type]] = {
    "key_id": ("key_id", str),
    "rpc": ("rpc", str),
    "household_id": ("household_id", str),
}


def record(
    store: RegistryStore, principal: Principal, rpc: str, request_id: str, seen: Seen
) -> None:
    event = models.AuditEvent(
        time=models.utcnow(),
        key_id=principal.key_id,
        role=principal.role.value,
        rpc=rpc[:120],
        request_id=request_id[:100],
        household_ids=_joined(seen.household_ids),
        county_codes=_joined(sorted(seen.county_codes)),
    )
    with store.transaction(write=True) as session:
        if session.get_bind().dialect.name == "postgresql":
            # The commit returns before its WAL reaches disk (still crash-safe as a whole):
            # a fifth of the cost. A PostgreSQL crash within ~0.2 s of a read could lose its
            # event, never leave half of one.
            session.execute(text("SET LOCAL synchronous_commit = off"))
        session.add(event)


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
