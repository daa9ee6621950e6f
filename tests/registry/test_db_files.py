"""The SQLite database and its WAL are the owner's only, and a thread of their own
checkpoints the WAL (registry/db.py)."""

from __future__ import annotations

import stat
import time

from sqlalchemy import text

from registry.db import WalCheckpoints, make_engine


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


def _write_pages(engine, rows: int) -> None:
    """Commit ``rows`` × 64 KiB: 5 MB is past SQLite's 1,000-page autocheckpoint."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS b (x BLOB)"))
        for _ in range(rows):
            conn.execute(text("INSERT INTO b VALUES (randomblob(65536))"))


def test_commits_leave_the_log_to_the_checkpoint_thread(tmp_path):
    """Without WalCheckpoints the 5 MB commit copies the log into the database file itself;
    with it the commit leaves the file as it was and the thread's checkpoint fills it."""
    plain = tmp_path / "plain.db"
    engine = make_engine(f"sqlite:///{plain}")
    _write_pages(engine, 80)
    assert plain.stat().st_size > 5_000_000  # the commit checkpointed
    engine.dispose()

    path = tmp_path / "fupin.db"
    engine = make_engine(f"sqlite:///{path}")
    checkpoints = WalCheckpoints.start(engine, every_s=3600)  # no tick during the test
    assert checkpoints is not None
    _write_pages(engine, 80)
    assert path.stat().st_size < 1_000_000  # still only in the log
    checkpoints.checkpoint()
    assert path.stat().st_size > 5_000_000
    checkpoints.close()
    assert not checkpoints._thread.is_alive()
    engine.dispose()


def test_the_checkpoint_thread_runs_on_its_own(tmp_path):
    path = tmp_path / "fupin.db"
    engine = make_engine(f"sqlite:///{path}")
    checkpoints = WalCheckpoints.start(engine, every_s=0.05)
    _write_pages(engine, 80)
    deadline = time.monotonic() + 10
    while path.stat().st_size < 5_000_000 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.stat().st_size > 5_000_000
    checkpoints.close()
    engine.dispose()


def test_no_checkpoint_thread_where_there_is_no_log(tmp_path, monkeypatch):
    """An in-memory database has no log, and no file: none is created for it."""
    monkeypatch.chdir(tmp_path)
    engine = make_engine("sqlite://")
    assert WalCheckpoints.start(engine) is None
    engine.dispose()
    assert list(tmp_path.iterdir()) == []
