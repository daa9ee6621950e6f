"""What someone with direct database access does to the ledger to hide a change: rewrite
entries and recompute every hash after them (the triggers suspended, as the owner can)."""

from __future__ import annotations

from sqlalchemy import insert, text
from sqlmodel import Session, select

from registry.ledger import chain
from registry.ledger import guard as ledger_guard
from registry.resources import models

FIELDS = ("kind", "run_id", "subject_id", "counterpart_id", "quantity", "amount_fen")


def rows(server) -> list[models.LedgerEntry]:
    with Session(server.store.engine) as session:
        return list(session.exec(select(models.LedgerEntry).order_by(models.LedgerEntry.seq)))


def rewrite(server, *, change: dict | None = None, at: int = 0, remove: int = 0, renumber=True):
    """What someone with database access does to hide it: change entry `at` (or remove entry
    `remove`, the later ones renumbered or not) and recompute every hash after it."""
    before = rows(server)
    kept = [r for r in before if r.seq != remove]
    prev, out = chain.GENESIS, []
    for number, row in enumerate(kept, start=1):
        values = {f: getattr(row, f) for f in FIELDS}
        if row.seq == at:
            values.update(change or {})
        seq = number if renumber else row.seq
        digest = chain.entry_hash(seq, prev, chain.time_iso(row.time), chain.Entry(**values))
        out.append({**values, "seq": seq, "time": row.time, "prev_hash": prev, "hash": digest})
        prev = digest
    with server.store.engine.begin() as conn, ledger_guard.suspended(conn):
        conn.execute(text("DELETE FROM ledger_entry"))
        conn.execute(insert(models.LedgerEntry), out)
