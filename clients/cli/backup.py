"""`fupin backup` / `fupin restore`: a portable copy of the registry's database, checked.

    fupin backup FILE [--database-url URL]
    fupin restore FILE --database-url URL

PostgreSQL: `pg_dump --format=custom` and `pg_restore --single-transaction` (their major
version must be the server's or newer: postgresql-client-15 for PostgreSQL 15). SQLite: the
online backup API (safe while the server runs in WAL mode). Beside FILE goes FILE.json, the
row count of every table and the ledger's length at backup time; restore refuses a database
that already has tables, then checks the ledger's hash chain and every count against it.
Each command prints one JSON line and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clients.cli.output import emit_json, say
from clients.i18n import _

if TYPE_CHECKING:
    from sqlalchemy import Engine

# sqlalchemy, sqlmodel and the registry's modules are imported where used: every `fupin`
# command builds the parser, and they would add 1.5 s to each.


class BackupError(Exception):
    """A backup or restore that cannot go on (the CLI prints it and exits 2)."""


def add_commands(commands: Any) -> None:
    backup = commands.add_parser("backup", help=_("copy the database to FILE (and FILE.json)"))
    backup.add_argument("file", type=Path)
    backup.add_argument("--database-url", help=_("default: FUPIN_DATABASE_URL (the server's)"))
    backup.set_defaults(run=run_backup)
    restore = commands.add_parser(
        "restore", help=_("restore FILE into an empty database and check it")
    )
    restore.add_argument("file", type=Path)
    restore.add_argument("--database-url", required=True, help=_("an empty database"))
    restore.set_defaults(run=run_restore)


def run_backup(args: argparse.Namespace) -> int:
    return _reported("backup", backup, args)


def run_restore(args: argparse.Namespace) -> int:
    return _reported("restore", restore, args)


def _reported(command: str, run: Callable[[argparse.Namespace], int], args: Any) -> int:
    try:
        return run(args)
    except BackupError as exc:
        say(f"fupin {command}: {exc}")
        return 2


def backup(args: argparse.Namespace) -> int:
    from server.settings import Settings

    url = args.database_url or Settings().database_url
    started = time.perf_counter()
    if is_sqlite(url):
        with sqlite3.connect(sqlite_path(url)) as source, sqlite3.connect(args.file) as copy:
            source.backup(copy)
    else:
        _pg("pg_dump", "--format=custom", "--no-owner", f"--file={args.file}", libpq_url(url))
    facts = inspect_database(url)
    args.file.with_name(args.file.name + ".json").write_text(json.dumps(facts, indent=1))
    seconds = round(time.perf_counter() - started, 3)
    size = args.file.stat().st_size
    emit_json({"backup": str(args.file), "bytes": size, **facts, "seconds": seconds})
    return 0 if facts["ledger_intact"] else 1


def restore(args: argparse.Namespace) -> int:
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from registry.db import make_engine

    url = args.database_url
    expected = json.loads(args.file.with_name(args.file.name + ".json").read_text())
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        if inspect(engine).get_table_names():
            database = make_url(url).database
            raise BackupError(f"{database} already has tables: restore needs an empty database")
    finally:
        engine.dispose()
    if is_sqlite(url):
        with sqlite3.connect(args.file) as copy, sqlite3.connect(sqlite_path(url)) as target:
            copy.backup(target)
    else:
        dbname = f"--dbname={libpq_url(url)}"
        _pg(
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            dbname,
            str(args.file),
        )
    facts = inspect_database(url)
    differ = sorted(
        name
        for name in set(expected["rows"]) | set(facts["rows"])
        if expected["rows"].get(name) != facts["rows"].get(name)
    )
    ok = facts["ledger_intact"] and not differ
    seconds = round(time.perf_counter() - started, 3)
    emit_json(
        {"restore": str(args.file), **facts, "counts_differ": differ, "ok": ok, "seconds": seconds}
    )
    return 0 if ok else 1


def inspect_database(url: str) -> dict[str, Any]:
    """Row count of every table, and what walking the ledger's hash chain found."""
    from sqlmodel import Session

    from registry.db import make_engine
    from registry.ledger import chain as ledger

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            chain = ledger.check_chain(session)
        return {
            "rows": count_rows(engine),
            "ledger_entries": chain.entries,
            "ledger_intact": chain.intact,
            "ledger_broken_at": chain.first_broken_seq,
        }
    finally:
        engine.dispose()


def count_rows(engine: Engine) -> dict[str, int]:
    from sqlalchemy import inspect, text

    with engine.connect() as connection:
        return {
            name: int(connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
            for name in sorted(inspect(connection).get_table_names())
        }


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> str:
    """The SQLite file a URL names, as registry.db.make_engine reads it (no query string)."""
    from sqlalchemy.engine import make_url

    from registry.db import sqlite_file

    path = sqlite_file(make_url(url))
    return ":memory:" if path is None else str(path)


def libpq_url(url: str) -> str:
    """The URL as pg_dump reads it (SQLAlchemy's driver suffix dropped)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg(tool: str, *argv: str) -> None:
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} not found: install postgresql-client-15 (or newer)")
    # The tool is one of two fixed names and every argument is ours: no shell, no injection.
    done = subprocess.run([tool, *argv], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[:2000]}")
