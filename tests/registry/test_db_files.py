"""The SQLite database and its WAL are the owner's only (registry/db.py)."""

from __future__ import annotations

import stat

from sqlalchemy import text

from registry.db import make_engine


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_database_and_wal_are_0600(tmp_path):
    """A new database file and the -wal/-shm files SQLite makes next to it are mode 0600."""
    path = tmp_path / "sub" / "fupin.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        wal = path.with_name("fupin.db-wal")
        assert wal.exists()
        assert _mode(wal) == 0o600
    assert _mode(path) == 0o600
    engine.dispose()


def test_existing_world_readable_database_is_made_private(tmp_path):
    """A file left 0644 by an earlier version is made 0600 when opened."""
    path = tmp_path / "fupin.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o600
