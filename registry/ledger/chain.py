"""The append-only ledger of commitments and fund transfers, hash-chained.

Each entry's hash covers every field of the entry — its seq, time, kind, run, subject,
counterpart, quantity, amount — and the previous entry's hash, so altering an entry behind the
service's back breaks the chain at that entry, and removing one leaves a gap in seq (seqs run
1, 2, 3, … without holes: `append` numbers them itself). Both are found by `check_chain`. A
consistent rewrite (an entry changed and every later hash recomputed) is caught only against a
signed checkpoint of the head kept elsewhere (registry/ledger/checkpoints.py).
Appends are serialized (an advisory lock on PostgreSQL, the write lock on SQLite) so the chain
never forks.

The hash is format "v2" (migration 0021 recomputed the chains written before with "v1", which
covered neither seq nor a version), in registry/ledger/hashing.py, pure so that the CLI checks
an exported ledger offline with the same code. A new entry kind hashes the same way: kind is a
string.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import insert, select, text
from sqlmodel import Session, col

from registry.ledger.hashing import GENESIS as GENESIS
from registry.ledger.hashing import Entry as Entry
from registry.ledger.hashing import entry_hash as entry_hash
from registry.ledger.hashing import time_iso as time_iso
from registry.resources import models

GRANT_ENTRY = "aid_grant"  # entry kind of an aid grant: subject household, counterpart programme
APPEND_LOCK = 0x66757069  # "fupi": the advisory lock id of ledger appends
HEAD_QUERY = "SELECT seq, hash FROM ledger_entry ORDER BY seq DESC LIMIT 1"


def append(session: Session, entries: Iterable[Entry]) -> int:
    """Append entries in order, in the caller's transaction. Returns how many."""
    entries = list(entries)
    if not entries:
        return 0  # no lock taken: nothing waits on a step that wrote nothing
    seq, prev = _locked_head(session)
    stamp = models.utcnow()
    stamp_iso = time_iso(stamp)
    rows = []
    for entry in entries:
        seq += 1  # numbered here, not by a database sequence: no holes after a rollback
        digest = entry_hash(seq, prev, stamp_iso, entry)
        rows.append(
            {**entry.__dict__, "seq": seq, "time": stamp, "prev_hash": prev, "hash": digest}
        )
        prev = digest
    session.execute(insert(models.LedgerEntry), rows)
    return len(rows)


def _locked_head(session: Session) -> tuple[int, str]:
    """Take the append lock and read the head (seq, hash) under it.

    On PostgreSQL both statements go in one round trip (a psycopg pipeline): the head query
    runs after the lock is granted, with a snapshot of its own (READ COMMITTED), so it sees the
    entries the lock's last holder committed. Every round trip made while holding the lock is
    time every other appender waits (docs/benchmarks.md, season)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":  # SQLite: the write lock is held since BEGIN
        last = session.execute(text(HEAD_QUERY)).first()
        return (int(last[0]), str(last[1])) if last else (0, GENESIS)
    raw = connection.connection.driver_connection
    assert raw is not None  # a checked-out connection
    with raw.pipeline():
        raw.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
        head = raw.execute(HEAD_QUERY)
        row = head.fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


@dataclass(frozen=True)
class ChainCheck:
    """What walking the chain found: entries read, the first break (0 and "" if none), and
    the hash of the last entry read (the head, when intact)."""

    entries: int
    first_broken_seq: int = 0
    reason: str = ""
    head_seq: int = 0
    head_hash: str = GENESIS
    checkpoints: int = 0  # signed checkpoints the chain was held against

    @property
    def intact(self) -> bool:
        return not self.reason


def check_chain(session: Session, *, upto: int = 0) -> ChainCheck:
    """Walk the chain from the genesis (up to seq `upto` if given); stop at the first entry
    that does not check out.

    An altered entry fails its own hash; a removed one leaves a gap in seq (the missing range
    is named) or, if the entries after it were renumbered, a link to a hash that is not its
    predecessor's."""
    prev, count, expected = GENESIS, 0, 1
    stmt = select(models.LedgerEntry).order_by(col(models.LedgerEntry.seq))
    if upto:
        stmt = stmt.where(col(models.LedgerEntry.seq) <= upto)
    for row in session.scalars(stmt.execution_options(yield_per=5000)):
        seq = int(row.seq or 0)
        reason = _fault(row, seq, expected, prev)
        if reason:
            return ChainCheck(count + 1, seq, reason, expected - 1, prev)
        count, expected, prev = count + 1, seq + 1, row.hash
    return ChainCheck(count, head_seq=expected - 1, head_hash=prev)


def _fault(row: models.LedgerEntry, seq: int, expected: int, prev: str) -> str:
    """Why this entry does not check out ("" if it does)."""
    if seq != expected:
        gone = f"entries {expected}-{seq - 1} were"
        if seq == expected + 1:
            gone = f"entry {expected} was"
        return f"{gone} removed: seq jumps from {expected - 1} to {seq}"
    if row.prev_hash != prev:
        return (
            "its link does not match the entry before it: an entry before it was removed, "
            "or it was rewritten"
        )
    entry = Entry(
        row.kind, row.run_id, row.subject_id, row.counterpart_id, row.quantity, row.amount_fen
    )
    if row.hash != entry_hash(seq, prev, time_iso(row.time), entry):
        return "its content does not match its hash: it was altered"
    return ""


def first_broken(session: Session) -> int | None:
    """The seq of the first entry whose hash or link does not check out; None if intact."""
    return check_chain(session).first_broken_seq or None
