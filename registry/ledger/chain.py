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

from registry.resources import models

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


@dataclass(frozen=True)
class ChainCheck:
    """What walking the chain found: entries read and the first break (0 and "" if none)."""

    entries: int
    first_broken_seq: int = 0
    reason: str = ""

    @property
    def intact(self) -> bool:
        return not self.reason


def check_chain(session: Session) -> ChainCheck:
    """Walk the chain from the genesis; stop at the first entry that does not check out.

    An altered entry fails its own hash; a removed one leaves the next entry linked to a hash
    that is not its predecessor's."""
    prev, count = GENESIS, 0
    stmt = select(models.LedgerEntry).order_by(col(models.LedgerEntry.seq))
    for row in session.scalars(stmt.execution_options(yield_per=5000)):
        count += 1
        entry = Entry(
            row.kind, row.run_id, row.subject_id, row.counterpart_id, row.quantity, row.amount_fen
        )
        seq = int(row.seq or 0)
        if row.prev_hash != prev:
            reason = "its link does not match the entry before it: an entry before it was removed"
            return ChainCheck(count, seq, reason)
        if row.hash != entry_hash(prev, _iso(row.time), entry):
            return ChainCheck(count, seq, "its content does not match its hash: it was altered")
        prev = row.hash
    return ChainCheck(count)


def first_broken(session: Session) -> int | None:
    """The seq of the first entry whose hash or link does not check out; None if intact."""
    return check_chain(session).first_broken_seq or None
