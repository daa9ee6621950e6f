"""The database's own refusal to change the ledger: triggers that reject UPDATE and DELETE on
ledger_entry (and TRUNCATE on PostgreSQL).

No code path of the service updates or deletes an entry; the triggers stop everyone else who
goes through SQL without owning the database. The database owner can still drop them (or, on
PostgreSQL, set session_replication_role) — what then changes, the hash chain catches
(registry/ledger/chain.py). `suspended` is that owner's tool, for tests and maintenance.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

REFUSAL = "ledger_entry is append-only"

_POSTGRES_INSTALL = (
    f"""CREATE OR REPLACE FUNCTION ledger_entry_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSAL}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER ledger_entry_no_change BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_append_only()""",
    """CREATE TRIGGER ledger_entry_no_truncate BEFORE TRUNCATE ON ledger_entry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_append_only()""",
)
_POSTGRES_REMOVE = (
    "DROP TRIGGER IF EXISTS ledger_entry_no_truncate ON ledger_entry",
    "DROP TRIGGER IF EXISTS ledger_entry_no_change ON ledger_entry",
    "DROP FUNCTION IF EXISTS ledger_entry_append_only()",
)
_SQLITE_INSTALL = tuple(
    f"""CREATE TRIGGER IF NOT EXISTS ledger_entry_no_{op.lower()} BEFORE {op} ON ledger_entry
    BEGIN SELECT RAISE(ABORT, '{REFUSAL}: {op} refused'); END"""
    for op in ("UPDATE", "DELETE")
)
_SQLITE_REMOVE = (
    "DROP TRIGGER IF EXISTS ledger_entry_no_update",
    "DROP TRIGGER IF EXISTS ledger_entry_no_delete",
)


def install(connection: Connection) -> None:
    """Create the triggers (migration 0003)."""
    postgres = connection.dialect.name == "postgresql"
    for statement in _POSTGRES_INSTALL if postgres else _SQLITE_INSTALL:
        connection.execute(text(statement))


def remove(connection: Connection) -> None:
    postgres = connection.dialect.name == "postgresql"
    for statement in _POSTGRES_REMOVE if postgres else _SQLITE_REMOVE:
        connection.execute(text(statement))


@contextmanager
def suspended(connection: Connection) -> Iterator[None]:
    """Within the caller's transaction, let the owner change ledger rows (tests, maintenance).

    PostgreSQL: session_replication_role = replica for this transaction (a superuser's right;
    it also skips foreign-key checks). SQLite: the triggers are dropped and made again."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        yield
        connection.execute(text("SET LOCAL session_replication_role = DEFAULT"))
        return
    remove(connection)
    yield
    install(connection)
