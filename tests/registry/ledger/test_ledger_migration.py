"""Migration 0021 on SQLite and PostgreSQL: a chain hashed the old way (v1, seq not covered,
a hole in seq as a rolled-back commit left on PostgreSQL) is intact after it under v2, seqs
1, 2, 3; a v1 chain tampered with before the migration still fails at the same entry."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import create_engine, insert, select, text
from sqlmodel import Session

from registry.db import alembic_config, make_engine, migrate
from registry.ledger import chain
from registry.ledger import guard as ledger_guard
from registry.resources import models
from tests.conftest import BACKENDS, POSTGRES_ADMIN_URL


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"fupin_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def v1_hash(prev: str, stamp: str, entry: chain.Entry) -> str:
    """The hash as written before 0021 (an independent copy of the old formula)."""
    fields = [prev, stamp, entry.kind, entry.run_id, entry.subject_id, entry.counterpart_id]
    payload = json.dumps([*fields, entry.quantity, entry.amount_fen], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def old_ledger(url: str, seqs: list[int], tamper: int = 0):
    """A database at 0016 with a v1 chain at these seqs (entry `tamper` altered after)."""
    engine = make_engine(url)
    cfg = alembic_config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0016")
    stamp = datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=UTC)
    prev, rows = chain.GENESIS, []
    for i, seq in enumerate(seqs):
        entry = chain.Entry("aid_grant", "run-old", f"hh-{i}", "prog-1", 0, 1000 + i)
        digest = v1_hash(prev, chain.time_iso(stamp), entry)
        rows.append(
            {**entry.__dict__, "seq": seq, "time": stamp, "prev_hash": prev, "hash": digest}
        )
        prev = digest
    with engine.begin() as connection:
        connection.execute(insert(models.LedgerEntry), rows)
        if tamper:
            ledger_guard.remove(connection)
            connection.execute(
                text("UPDATE ledger_entry SET amount_fen = 1 WHERE seq = :s"), {"s": tamper}
            )
            ledger_guard.install(connection)
    return engine


def test_an_intact_v1_chain_is_intact_after(empty_url):
    engine = old_ledger(empty_url, [1, 2, 5])
    migrate(engine)
    with Session(engine) as session:
        check = chain.check_chain(session)
        seqs = list(session.scalars(select(models.LedgerEntry.seq).order_by("seq")))
    engine.dispose()
    assert (check.intact, check.entries, seqs) == (True, 3, [1, 2, 3])


def test_a_tampered_v1_chain_still_fails_at_that_entry(empty_url):
    engine = old_ledger(empty_url, [1, 2, 3, 4], tamper=3)
    migrate(engine)
    with Session(engine) as session:
        check = chain.check_chain(session)
    engine.dispose()
    assert (check.intact, check.first_broken_seq) == (False, 3)
