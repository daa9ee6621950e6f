"""The backup and restore drill: `fupin backup`, `fupin restore` into a new database, checked."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from clients.cli import main
from registry.db import make_engine, migrate
from tests.conftest import POSTGRES_ADMIN_URL

Run = Callable[..., tuple[int, dict[str, object]]]


@pytest.fixture
def fupin(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run the CLI in-process: (exit code, its last JSON line, or {})."""

    def run(*argv: str) -> tuple[int, dict[str, object]]:
        code = main(list(argv))
        lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        return code, json.loads(lines[-1]) if lines else {}

    return run


@pytest.fixture
def new_database() -> Iterator[Callable[[], str]]:
    """Makes empty PostgreSQL databases; drops them all at the end."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def make() -> str:
        names.append(f"fupin_backup_{uuid.uuid4().hex[:10]}")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{names[-1]}"'))
        return f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{names[-1]}"

    yield make
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.xdist_group("backup")
def test_the_demo_survives_backup_and_restore_on_postgres(
    fupin: Run, new_database: Callable[[], str], tmp_path: Path
) -> None:
    """The demo's data and committed run, dumped and restored: ledger intact, every count equal."""
    source = new_database()
    assert main(["demo", "--database-url", source, "--out", str(tmp_path / "demo")]) == 0
    dump = tmp_path / "fupin.dump"

    code, backed_up = fupin("backup", str(dump), "--database-url", source)
    assert code == 0
    rows = backed_up["rows"]
    assert isinstance(rows, dict)
    assert rows["household"] == 280
    assert rows["ledger_entry"] > 0
    assert rows["ledger_entry"] == backed_up["ledger_entries"]

    code, restored = fupin("restore", str(dump), "--database-url", new_database())
    assert code == 0
    assert restored["ok"] is True
    assert restored["ledger_intact"] is True
    assert restored["rows"] == rows
    assert restored["counts_differ"] == []


@pytest.fixture
def empty_dump(fupin: Run, new_database: Callable[[], str], tmp_path: Path) -> tuple[str, Path]:
    """A PostgreSQL database with the schema and no data, and its dump: (url, dump)."""
    source = new_database()
    migrate_empty(source)
    dump = tmp_path / "fupin.dump"
    assert fupin("backup", str(dump), "--database-url", source)[0] == 0
    return source, dump


@pytest.mark.postgres
@pytest.mark.xdist_group("backup")
def test_restore_refuses_a_database_with_tables(fupin: Run, empty_dump: tuple[str, Path]) -> None:
    """Restoring over a live database would mix two histories: exit 2, nothing written."""
    source, dump = empty_dump
    code, _ = fupin("restore", str(dump), "--database-url", source)
    assert code == 2


@pytest.mark.postgres
@pytest.mark.xdist_group("backup")
def test_restore_reports_a_count_that_differs(
    fupin: Run, new_database: Callable[[], str], empty_dump: tuple[str, Path]
) -> None:
    """A restored table whose count is not the one recorded at backup time fails the check."""
    _, dump = empty_dump
    recorded = dump.with_name(dump.name + ".json")
    facts = json.loads(recorded.read_text())
    facts["rows"]["village"] = 3  # the copy lost three villages
    recorded.write_text(json.dumps(facts))

    code, restored = fupin("restore", str(dump), "--database-url", new_database())
    assert code == 1
    assert restored["counts_differ"] == ["village"]


def test_backup_and_restore_an_sqlite_file(fupin: Run, tmp_path: Path) -> None:
    """The embedded default's file is copied with SQLite's online backup and restored alike."""
    source = f"sqlite:///{tmp_path / 'fupin.db'}"
    migrate_empty(source)
    dump = tmp_path / "copy.db"
    code, backed_up = fupin("backup", str(dump), "--database-url", source)
    assert code == 0

    code, restored = fupin("restore", str(dump), "--database-url", f"sqlite:///{tmp_path / 'r.db'}")
    assert code == 0
    assert restored["rows"] == backed_up["rows"]
    assert "alembic_version" in restored["rows"]  # type: ignore[operator]


def migrate_empty(url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
