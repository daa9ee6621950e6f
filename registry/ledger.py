"""The append-only ledger of commitments and fund transfers, hash-chained.

Each entry's hash covers its content and the previous entry's hash, so altering or removing an
entry behind the service's back breaks the chain at that entry (`first_broken` finds it).
Appends are serialized (an advisory lock on PostgreSQL, the write lock on SQLite) so the chain
never forks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, text
from sqlmodel import Session, col

from registry import models

GENESIS = "0" * 64
APPEND_LOCK = 0x66757069  # "fupi": the advisory lock id of ledger appends


@dataclass(frozen=True)
class Entry:
    kind: str
    run_id: str = ""
    subject_id: str = ""
    counterpart_id: str = ""
    quantity: int = 0
    amount_fen: int = 0


def entry_hash(prev_hash: str, time_iso: str, entry: Entry) -> str:
    payload = json.dumps(
        [
            prev_hash,
            time_iso,
            entry.kind,
            entry.run_id,
            entry.subject_id,
            entry.counterpart_id,
            entry.quantity,
            entry.amount_fen,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def append(session: Session, entries: Iterable[Entry]) -> int:
    """Append entries in order, in the caller's transaction. Returns how many."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK})
    last = session.scalar(
        select(col(models.LedgerEntry.hash)).order_by(col(models.LedgerEntry.seq).desc()).limit(1)
    )
    prev = last or GENESIS
    stamp = models.utcnow()
    stamp_iso = _iso(stamp)
    rows = []
    for entry in entries:
        digest = entry_hash(prev, stamp_iso, entry)
        rows.append({**entry.__dict__, "time": stamp, "prev_hash": prev, "hash": digest})
        prev = digest
    if rows:
        session.execute(insert(models.LedgerEntry), rows)
    return len(rows)


def _iso(value: datetime) -> str:
    """UTC time as hashed: SQLite hands datetimes back naive, PostgreSQL aware."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def first_broken(session: Session) -> int | None:
    """The seq of the first entry whose hash or link does not check out; None if intact."""
    prev = GENESIS
    stmt = select(models.LedgerEntry).order_by(col(models.LedgerEntry.seq))
    for row in session.scalars(stmt.execution_options(yield_per=5000)):
        entry = Entry(
            row.kind, row.run_id, row.subject_id, row.counterpart_id, row.quantity, row.amount_fen
        )
        if row.prev_hash != prev or row.hash != entry_hash(prev, _iso(row.time), entry):
            return row.seq
        prev = row.hash
    return None
