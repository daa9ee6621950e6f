"""What a backup and a restore are checked against: every table's row count and the ledger.

The database half of `fupin backup` / `fupin restore` (clients/cli_backup.py runs pg_dump,
pg_restore or SQLite's backup API and prints; this module reads the database).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlmodel import Session

from registry.db import make_engine
from registry.ledger import chain


def has_tables(url: str) -> bool:
    engine = make_engine(url)
    try:
        return bool(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def inspect_database(url: str) -> dict[str, Any]:
    """Row count of every table, and what walking the ledger's hash chain found."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            found = chain.check_chain(session)
        return {
            "rows": count_rows(engine),
            "ledger_entries": found.entries,
            "ledger_intact": found.intact,
            "ledger_broken_at": found.first_broken_seq,
        }
    finally:
        engine.dispose()


def count_rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            name: int(connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
            for name in sorted(inspect(connection).get_table_names())
        }
