"""The registry store: every read and write of registry resources, one transaction per call.

Generic over the resource specs in registry/resources/kinds.py. Inputs are validated column values
(registry/resources/convert.py builds them); outputs are Records. Errors are raised in the
vocabulary of
registry/errors.py; the database's own constraints are the last line of defence.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Connection, Engine, select
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlmodel import Session, col

from registry import db
from registry.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from registry.resources import hooks, household_rows, models
from registry.resources.household_rows import HouseholdRow
from registry.resources.kinds import Kind, Record
from registry.resources.query import Page, next_token
from registry.resources.scoring import ScoringConfig

log = structlog.get_logger(__name__)
Values = dict[str, Any]
Scope = ColumnElement[bool] | None  # registry/access/scopes.py: rows a key may see; None = all
References = dict[Any, Scope] | None  # per referenced table, the rows a key may refer to
# Called inside the update transaction with the current record; returns the new values.
Merge = Callable[[Record], Values]


def new_id(prefix: str) -> str:
    """Time-ordered opaque id: prefix, 48-bit milliseconds, 64 random bits."""
    return f"{prefix}-{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


def id_stem(prefix: str) -> str:
    """The start shared by a batch's ids: prefix, 48-bit milliseconds, 40 random bits."""
    return f"{prefix}-{time.time_ns() // 1_000_000:012x}{secrets.token_hex(5)}"


def new_ids(prefix: str, count: int, *, stem: str = "", start: int = 0) -> list[str]:
    """Ids for a batch that sort in input order: one time and random stem, then the index.

    A batch stored in parts passes each part the same stem and the index it starts at."""
    stem = stem or id_stem(prefix)
    return [f"{stem}{i:06x}" for i in range(start, start + count)]


class RegistryStore:
    """Owns the engine and the transactions; the servicer calls one method per RPC."""

    def __init__(self, engine: Engine, scoring: ScoringConfig) -> None:
        self.engine = engine
        self.scoring = scoring

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Session]:
        """A session in one transaction; database outages surface as Unavailable.

        `write` takes SQLite's write lock at the start (PostgreSQL needs no such thing)."""
        with _database_errors(), self.engine.connect() as connection:
            connection.info[db.WRITE_FLAG] = write
            with Session(bind=connection, expire_on_commit=False) as session, session.begin():
                yield session

    @contextmanager
    def statement(self) -> Iterator[Session]:
        """A session for a read made of ONE statement, which sees one snapshot by itself.

        PostgreSQL runs it in autocommit: BEGIN and COMMIT would be two more round trips.
        SQLite keeps its BEGIN, which costs no round trip."""
        with (
            self.reading() as connection,
            Session(bind=connection, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads of plain columns, without an ORM session (its set-up is a
        third of a Get's database work): in autocommit on PostgreSQL, as in statement();
        on SQLite its statements share one transaction, begun by the first."""
        with _database_errors(), self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    def create(
        self,
        kind: Kind,
        values: Values,
        *,
        request_id: str = "",
        fingerprint: str = "",
        scope: Scope = None,
        references: References = None,
    ) -> Record:
        """references: per referenced table, the rows the caller may refer to (None: all);
        a reference outside them is NOT_FOUND, as for an unknown id."""
        try:
            with self.transaction(write=True) as session:
                if request_id:
                    earlier = replayed(session, request_id, fingerprint)
                    if earlier is not None:
                        return self._load(session, kind, earlier[0])
                row = self._insert(session, kind, values, references)
                _check_written(session, kind, row.id, scope)
                if request_id:
                    remember(session, request_id, kind.name, fingerprint, [row.id])
                session.flush()
                return self._load(session, kind, row.id)
        except IntegrityError as exc:
            if request_id:  # a concurrent call with the same request_id won the race
                with self.transaction() as session:
                    earlier = replayed(session, request_id, fingerprint)
                    if earlier is not None:
                        return self._load(session, kind, earlier[0])
            raise _conflict(kind, exc) from exc

    def get(self, kind: Kind, resource_id: str, *, scope: Scope = None) -> Record:
        """The record; NotFound when it is unknown or outside the scope (the same answer)."""
        if scope is not None:
            with self.statement() as session:
                _check_visible(session, kind, resource_id, scope)
        with self.statement() as session:
            return self._load(session, kind, resource_id)

    def list(
        self, kind: Kind, *, page: Page, where: Scope, scope: Scope = None
    ) -> tuple[list[Record], str]:
        """One page of records ordered by id, and the token of the next page ('' at the end).
        The scope is a condition of the query itself, so pages hold only rows in scope."""
        with self.transaction() as session:
            # Plain rows, not ORM objects: a page is only read, and the *_proto functions read
            # columns by name, which a Row offers as well (no identity map, no instance state).
            table: Any = kind.table.__table__  # type: ignore[attr-defined]
            stmt = select(table).order_by(table.c.id)
            if scope is not None:
                stmt = stmt.where(scope)
            if where is not None:  # the filter's condition (registry/filters.py)
                stmt = stmt.where(where)
            if page.after:
                stmt = stmt.where(col(kind.table.id) > page.after)
            rows: list[Any] = list(session.execute(stmt.limit(page.size + 1)))
            more = len(rows) > page.size
            rows = rows[: page.size]
            related = hooks.load_related(session, kind, [r.id for r in rows])
            records = [Record(r, tuple(related.get(r.id, ()))) for r in rows]
            return records, next_token(page, rows[-1].id) if more else ""

    def get_household(self, household_id: str, *, scope: Scope = None) -> HouseholdRow:
        """get(HOUSEHOLD, ...) as plain columns, in one statement (the scope a condition of
        it): NotFound when unknown or outside the scope (the same answer)."""
        conditions = [] if scope is None else [scope]
        with self.reading() as connection:
            row = household_rows.read_one(connection, household_id, conditions)
        if row is None:
            raise NotFound(f"household {household_id!r} not found", field="id")
        return row

    def list_households(
        self, *, page: Page, where: Scope, scope: Scope = None
    ) -> tuple[Sequence[HouseholdRow], str]:
        """list(HOUSEHOLD, ...) as plain columns (registry/resources/household_rows.py).
        Two statements; on PostgreSQL each sees its own snapshot, as in list's transaction
        at READ COMMITTED, so they run without BEGIN and COMMIT."""
        table = models.Household
        conditions = [c for c in (scope, where) if c is not None]
        if page.after:
            conditions.append(col(table.id) > page.after)
        with self.reading() as connection:
            every = scope is None and where is None  # only `after`: the pages are id ranges
            rows = household_rows.read_page(connection, conditions, page.size + 1, every=every)
        more = len(rows) > page.size
        rows = rows[: page.size]
        return rows, next_token(page, rows[-1].id) if more else ""

    def update(
        self,
        kind: Kind,
        resource_id: str,
        *,
        etag: str,
        merge: Merge,
        scope: Scope = None,
        visible: Scope = None,
        references: References = None,
    ) -> Record:
        """scope: the rows the caller may change; visible: those it may read (NOT_FOUND
        outside them; PERMISSION_DENIED for a row it reads but may not change); references
        as in create."""
        try:
            with self.transaction(write=True) as session:
                _check_visible(session, kind, resource_id, visible)
                _check_written(session, kind, resource_id, scope)
                row = _locked(session, kind, resource_id)
                _check_etag(row, etag)
                values = merge(self._load(session, kind, resource_id))
                _check_references(session, kind, values, references)
                hooks.before_update(session, kind, row, values, self.scoring)
                for column, value in values.items():
                    if not column.startswith("_"):
                        setattr(row, column, value)
                row.version += 1
                row.update_time = models.utcnow()
                session.add(row)
                session.flush()
                _check_written(session, kind, resource_id, scope)
                return self._load(session, kind, resource_id)
        except IntegrityError as exc:
            raise _conflict(kind, exc) from exc

    def delete(
        self,
        kind: Kind,
        resource_id: str,
        *,
        etag: str,
        scope: Scope = None,
        visible: Scope = None,
    ) -> None:
        """scope and visible as in update."""
        try:
            with self.transaction(write=True) as session:
                _check_visible(session, kind, resource_id, visible)
                _check_written(session, kind, resource_id, scope)
                row = _locked(session, kind, resource_id)
                _check_etag(row, etag)
                hooks.before_delete(session, kind, row)
                session.delete(row)
                session.flush()
        except IntegrityError as exc:
            raise FailedPrecondition(
                f"{kind.name} {resource_id} is still referenced by other resources"
            ) from exc

    def _insert(
        self, session: Session, kind: Kind, values: Values, references: References = None
    ) -> models.Resource:
        _check_references(session, kind, values, references)
        _check_unique(session, kind, values)
        stamp = models.utcnow()
        columns = {k: v for k, v in values.items() if not k.startswith("_")}
        row = kind.table(id=new_id(kind.id_prefix), create_time=stamp, update_time=stamp, **columns)
        hooks.before_insert(session, kind, row, values, self.scoring)
        session.add(row)
        session.flush()
        hooks.after_insert(session, kind, row, values)
        return row

    def _load(self, session: Session, kind: Kind, resource_id: str) -> Record:
        """The record in one statement (RegistryStore.statement relies on it)."""
        loaded = hooks.load_one(session, kind, resource_id)
        if loaded is None:
            raise NotFound(f"{kind.name} {resource_id!r} not found", field="id")
        row, related = loaded
        return Record(row, tuple(related))


@contextmanager
def _database_errors() -> Iterator[None]:
    """Database outages become Unavailable; values the database refuses, InvalidArgument."""
    try:
        yield
    except OperationalError as exc:
        log.warning("database_unavailable", error=str(exc.orig))
        raise Unavailable("the database is unavailable; retry later") from exc
    except DataError as exc:  # validation should have caught it: log, but blame the input
        log.warning("database_refused_value", error=str(exc.orig)[:300])
        raise InvalidArgument.one("request", "holds a value the database cannot store") from exc


def _locked(session: Session, kind: Kind, resource_id: str) -> models.Resource:
    """The row, locked for the rest of the transaction (SELECT ... FOR UPDATE on PostgreSQL)."""
    row = session.get(kind.table, resource_id, with_for_update=True)
    if row is None:
        raise NotFound(f"{kind.name} {resource_id!r} not found", field="id")
    return row


def _check_visible(session: Session, kind: Kind, resource_id: str, scope: Scope) -> None:
    """Outside the scope reads as unknown: the caller learns nothing about other regions."""
    if scope is None:
        return
    stmt = select(col(kind.table.id)).where(col(kind.table.id) == resource_id, scope)
    if session.scalar(stmt) is None:
        raise NotFound(f"{kind.name} {resource_id!r} not found", field="id")


def _check_written(session: Session, kind: Kind, resource_id: str, scope: Scope) -> None:
    """A write must find and leave the row inside the writer's scope (or roll back)."""
    if scope is None:
        return
    stmt = select(col(kind.table.id)).where(col(kind.table.id) == resource_id, scope)
    if session.scalar(stmt) is None:
        raise PermissionDenied(f"the {kind.name} would lie outside your key's scope")


def _check_etag(row: models.Resource, etag: str) -> None:
    if etag and etag != f'"{row.version}"':
        raise Aborted(f'etag {etag} is stale (now "{row.version}"); re-read and retry')


def _check_references(
    session: Session, kind: Kind, values: Values, references: References = None
) -> None:
    within = references or {}
    for column, table in kind.references.items():
        ref = values.get(column)
        if ref and not exists(session, table, ref, within.get(table)):
            raise NotFound(f"{table.__name__.lower()} {ref!r} not found", field=column)
    hooks.check_related_references(session, kind, values, within.get(models.Household))


def exists(session: Session, table: Any, row_id: str, within: Scope) -> bool:
    """Whether the row exists and (within, if given, is the condition) may be referred to."""
    if within is None:
        return session.get(table, row_id) is not None
    stmt = select(col(table.id)).where(col(table.id) == row_id, within)
    return session.scalars(stmt).first() is not None


def _check_unique(session: Session, kind: Kind, values: Values) -> None:
    for column in kind.unique:
        stmt = select(col(kind.table.id)).where(getattr(kind.table, column) == values[column])
        if session.scalar(stmt.limit(1)) is not None:
            raise AlreadyExists(f"a {kind.name} with this {column} exists", field=column)


def replayed(session: Session, request_id: str, fingerprint: str) -> list[str] | None:
    """Ids produced by an earlier call with this request_id, or None if it is new."""
    key = session.get(models.IdempotencyKey, request_id)
    return None if key is None else replay(key, fingerprint)


def replay(key: models.IdempotencyKey, fingerprint: str) -> list[str]:
    """The ids the call that left this key produced, if it was the same request."""
    if key.fingerprint != fingerprint:
        raise AlreadyExists(
            "request_id was already used for a different request", field="request_id"
        )
    return list(key.resource_ids)


def remember(
    session: Session, request_id: str, method: str, fingerprint: str, ids: list[str]
) -> None:
    session.add(
        models.IdempotencyKey(
            request_id=request_id,
            method=method,
            fingerprint=fingerprint,
            resource_ids=ids,
            create_time=models.utcnow(),
        )
    )


def _conflict(kind: Kind, exc: IntegrityError) -> Exception:
    """An integrity error that slipped past the checks (a concurrent write)."""
    text = str(exc.orig).lower()
    for column in kind.unique:
        if column in text:
            return AlreadyExists(f"a {kind.name} with this {column} exists", field=column)
    log.warning("integrity_conflict", kind=kind.name, error=text[:300])
    return FailedPrecondition(f"the {kind.name} conflicts with stored data: {text[:200]}")
