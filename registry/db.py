"""Engine creation and schema migration. Stores (registry/store*.py) own the transactions."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    Text,
    any_,
    bindparam,
    create_engine,
    event,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

log = structlog.get_logger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
WRITE_FLAG = "fupin_write"  # set in Connection.info before begin() to take the write lock
CHECKPOINT_EVERY_S = 0.5  # WalCheckpoints' period


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for url; SQLite files get their folder, WAL, and enforced foreign keys."""
    if url.startswith("sqlite"):
        path = sqlite_file(make_url(url))
        if path is not None:
            _private_file(path)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # A host that does not answer (a partition, not a refusal) would hold a connect for the
    # kernel's TCP timeout, minutes; health and callers should hear UNAVAILABLE in seconds.
    kwargs.setdefault("connect_args", {"connect_timeout": 5})
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No pre-ping: it was one round trip more on every checkout (a fifth of a Get). A pooled
    # connection that died fails its first statement with OperationalError, which the stores
    # turn into UNAVAILABLE (clients retry reads and creates), and SQLAlchemy then drops every
    # connection pooled before it. Recycling old connections keeps idle-timeout kills rare.
    kwargs.setdefault("pool_recycle", 1800)
    return create_engine(url, **kwargs)


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one
    (``sqlite://``, ``sqlite:///:memory:``)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def one_of(session: Session | Connection, column: Any, values: list[str]) -> ColumnElement[bool]:
    """`column IN values`, as PostgreSQL parses it fastest: one text parameter that the
    database splits, `= ANY(string_to_array(text, ','))`; an array parameter when a value
    holds the comma.

    An IN list of a thousand ids is a thousand placeholders: psycopg splits such a query in
    ~45 ms before sending it, longer than running it; an array of a thousand strings it dumps
    item by item (~2 ms, a list page's history). SQLite has no arrays; it keeps IN."""
    bind = session.get_bind() if isinstance(session, Session) else session
    if bind.dialect.name != "postgresql":
        return column.in_(values)  # type: ignore[no-any-return]
    joined = ",".join(values)
    if joined.count(",") == len(values) - 1:
        split = func.string_to_array(bindparam(None, joined, type_=Text), ",")
        return column == any_(split)  # type: ignore[no-any-return]
    return column == any_(bindparam(None, values, type_=ARRAY(String)))  # type: ignore[no-any-return]


@contextmanager
def driver_errors(connection: Connection, statement: str) -> Iterator[None]:
    """The errors of a statement sent on the psycopg connection under `connection` (a COPY,
    a read that skips SQLAlchemy's execution), raised as SQLAlchemy's, which the stores map
    (OperationalError: UNAVAILABLE). Outside a transaction, a connection the error broke
    leaves the pool, as it does when SQLAlchemy runs the statement; inside one (an import's
    COPY) the transaction's end deals with it, as before."""
    try:
        yield
    except psycopg.IntegrityError as exc:
        raise IntegrityError(statement, None, exc) from exc
    except psycopg.OperationalError as exc:
        driver: Any = connection.connection.driver_connection
        if driver.broken and not connection.in_transaction():
            connection.invalidate(exc)
        raise OperationalError(statement, None, exc) from exc


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (it holds households' names and
    incomes), and make an existing one so. SQLite gives its -wal and -shm files the database
    file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    os.chmod(path, 0o600)
    for extra in ("-wal", "-shm", "-journal"):
        sibling = path.with_name(path.name + extra)
        if sibling.exists():
            os.chmod(sibling, 0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (below) instead of pysqlite's implicit, late BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class WalCheckpoints:
    """Checkpoints a SQLite file's write-ahead log on a thread of its own.

    By default SQLite checkpoints inside the commit that takes the log past 1,000 pages
    (4 MB): that commit copies the log into the database file and syncs it, so one produce
    run in two paid ~50 ms more to store its 2 MB result. While this runs, the engine's
    connections never checkpoint (``wal_autocheckpoint=0``); the thread does, PASSIVE (it
    waits for no reader or writer), every ``every_s``. Durability is unchanged: a commit is
    in the log either way (synchronous=NORMAL), and SQLite replays the log on open.

    ``start`` gives None for a database that is not a SQLite file (PostgreSQL checkpoints on
    its own; an in-memory SQLite database has no log). ``close`` stops the thread after one
    last checkpoint.
    """

    def __init__(self, engine: Engine, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.engine = engine
        self.every_s = every_s
        self._stop = threading.Event()
        event.listen(engine, "connect", _no_autocheckpoint)
        engine.dispose()  # connections pooled before the listener would still checkpoint
        self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, engine: Engine, every_s: float = CHECKPOINT_EVERY_S) -> WalCheckpoints | None:
        return None if sqlite_file(engine.url) is None else cls(engine, every_s)

    def checkpoint(self) -> None:
        """Copy what the log holds into the database file now (PASSIVE)."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.close()
        finally:
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._tick()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._tick()

    def _tick(self) -> None:
        try:
            self.checkpoint()
        except Exception:  # a locked or vanished file: the log waits for the next tick
            log.warning("wal_checkpoint_failed", exc_info=True)


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Writers take SQLite's write lock at BEGIN, so a transaction never decides on a snapshot
    that another writer changes before it writes (SQLite would fail it with BUSY_SNAPSHOT)."""
    immediate = connection.info.pop(WRITE_FLAG, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; runs at every start)."""
    cfg = alembic_config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
    log.info("schema_migrated", database=engine.url.render_as_string(hide_password=True))
