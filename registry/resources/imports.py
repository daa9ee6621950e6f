"""All-or-nothing bulk import of households, listings and cadres.

Rows arrive validated (column values), in batches as the client streams them. Each batch is
checked against the rows before it (repeated unique values) and the database (references),
then written into the import's one transaction. One bad row rejects the import, naming the
row and field, and nothing is written.

On PostgreSQL each batch is written as it arrives, so the database works while the rest of
the stream is received and checked. SQLite's writers lock the database from BEGIN, so there
the whole stream is received first and written as one batch.
"""

from __future__ import annotations

import contextvars
import json
import operator
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any, Protocol

import numpy as np
import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from registry import db
from registry.errors import AlreadyExists, FailedPrecondition, NotFound
from registry.resources import hooks, models
from registry.resources.bulk import QUERY_CHUNK, Values, bulk_insert, tuple_insert
from registry.resources.kinds import HOUSEHOLD, Kind
from registry.resources.scoring import PLAIN_COLUMNS, ScoringConfig, assess_plain
from registry.resources.store import RegistryStore, id_stem, new_ids, remember, replay, replayed

log = structlog.get_logger(__name__)
HOUSEHOLD_COLUMNS = (
    *("id", "create_time", "update_time", "version", "village_id", "county_code"),
    *("card_number", "head_name", "members", "labour_force", "housing_safety"),
    *("food_security", "children_schooling", "health", "disability", "income_per_capita_fen"),
    *("causes", "score", "status", "previous_score", "extra_indicators", "set_scores"),
)
FILING_COLUMNS = ("household_id", "time", "old_status", "new_status", "score", "reason")


class Incoming(Protocol):
    """Validated rows in batches as they arrive (registry/resources/servicer.py's ImportStream).

    Iterating raises the stream's violations once it has ended. `request_id` is known once the
    first batch is out, `fingerprint` once the last one is."""

    @property
    def request_id(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    def __iter__(self) -> Iterator[list[Values]]: ...


def import_rows(store: RegistryStore, kind: Kind, incoming: Incoming) -> list[str]:
    """Store every row or none; returns the new ids in input order."""
    batches: Iterable[list[Values]] = incoming
    if store.engine.dialect.name != "postgresql":
        batches = [[row for batch in incoming for row in batch]]
    job = _Import(kind, store.scoring)
    try:
        with store.transaction(write=True) as session, _OneBehind() as writer:
            for rows in batches:
                job.add(session, writer, rows, incoming.request_id)
            writer.wait()
            ids = job.finish(session, incoming.fingerprint)
    except IntegrityError as exc:
        # Clashes with stored rows are rare, so they are looked for only once the insert
        # failed (the transaction is gone): find the first clashing row to name it.
        with store.transaction() as session:
            if job.request_id:  # a concurrent import with the same request_id won the race
                earlier = replayed(session, job.request_id, incoming.fingerprint)
                if earlier is not None:
                    return earlier
            error = job.first_unknown(session) or job.first_clash(session)
        if error is not None:
            raise error from exc
        log.warning("import_conflict", kind=kind.plural, error=str(exc.orig)[:300])
        raise FailedPrecondition(f"the import conflicts with stored data: {exc.orig}") from exc
    log.info("import_stored", kind=kind.plural, rows=len(ids))
    return ids


class _OneBehind:
    """Runs jobs on a thread of its own, one at a time, each while the caller prepares the
    next: a batch is inserted while the next one is received, checked and prepared, and the
    database (on another core) is kept busy. A job's error surfaces at the next `submit` or
    at `wait`."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import")
        self._pending: Future[None] | None = None

    def __enter__(self) -> _OneBehind:
        return self

    def __exit__(self, *exc: object) -> None:
        self._executor.shutdown()  # the job in flight ends before its transaction does

    def submit(self, job: Callable[..., None], *args: Any) -> None:
        self.wait()
        # The job's log lines keep the RPC's context (method, request id).
        self._pending = self._executor.submit(contextvars.copy_context().run, job, *args)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


class _Import:
    """One import as its batches arrive: what the checks need to remember of the rows so far,
    and whether anything is wrong yet. Once something is, batches are only checked, not
    written, and `finish` raises the error the checks of a whole import raise first: a
    repeated unique value, then a reused request_id, then an unknown reference."""

    def __init__(self, kind: Kind, scoring: ScoringConfig) -> None:
        self.kind = kind
        self.scoring = scoring
        self.request_id: str | None = None  # None until the first batch
        self.earlier: models.IdempotencyKey | None = None  # left by this request_id before
        self.count = 0
        self.stem = id_stem(kind.id_prefix)
        self.stamp = models.utcnow()
        self.ids: list[str] = []
        self.first_unique: dict[str, dict[str, int]] = {c: {} for c in kind.unique}
        self.repeats: dict[str, AlreadyExists] = {}
        self.first_ref: dict[str, dict[str, int]] = {c: {} for c in kind.references}
        self.found: dict[str, set[str]] = {c: set() for c in kind.references}
        self.unknown: NotFound | None = None
        self.conflict: IntegrityError | None = None
        self.counties: dict[str, str] = {}  # of the villages households refer to
        self.json_cache: dict[tuple[Any, ...], str] = {}
        self.templates: dict[tuple[str, ...], str] = {}  # of set scores, by their names
        self.dialect = ""  # these two are known from the first batch
        self.driver_stamp: Any = None  # self.stamp as the driver takes it

    def add(
        self, session: Session, writer: _OneBehind, rows: list[Values], request_id: str
    ) -> None:
        """Check a batch and, while nothing is wrong so far, prepare it for `writer` to insert.

        The session is the writer's until writer.wait() returns."""
        if self.request_id is None:  # the first batch: nothing is being inserted yet
            self.request_id = request_id
            if request_id:
                self.earlier = session.get(models.IdempotencyKey, request_id)
            self.dialect = session.get_bind().dialect.name
            self.driver_stamp = driver_time(session, self.stamp)
        start, self.count = self.count, self.count + len(rows)
        self._note(rows, start)
        if self.repeats or self.earlier is not None or self.unknown or self.conflict:
            return
        self.unknown = self._unknown_in(session, writer, rows, start)
        if self.unknown is None:
            ids = new_ids(self.kind.id_prefix, len(rows), stem=self.stem, start=start)
            self.ids.extend(ids)
            writer.submit(self._insert, self._prepared(session, writer, rows, ids))

    def _insert(self, inserts: list[Callable[[], None]]) -> None:
        """On the writer's thread: run a batch's inserts, unless an earlier batch clashed."""
        if self.conflict is None:
            try:
                for insert_batch in inserts:
                    insert_batch()
            except IntegrityError as exc:  # raised by finish, once the stream has ended
                self.conflict = exc

    def finish(self, session: Session, fingerprint: str) -> list[str]:
        for column in self.kind.unique:
            if column in self.repeats:
                raise self.repeats[column]
        if self.earlier is not None:
            return replay(self.earlier, fingerprint)
        if self.unknown is not None:
            raise self.first_unknown(session) or self.unknown
        if self.conflict is not None:
            raise self.conflict
        if self.request_id:
            remember(session, self.request_id, f"import_{self.kind.plural}", fingerprint, self.ids)
            session.flush()
        return self.ids

    def _note(self, rows: list[Values], start: int) -> None:
        """Remember each unique value's and reference's first row; note repeated values."""
        for column, first in self.first_unique.items():
            for i, row in enumerate(rows, start):
                value = row[column]
                if value not in first:
                    first[value] = i
                elif column not in self.repeats:
                    self.repeats[column] = AlreadyExists(
                        f"row {i}: {column} repeats row {first[value]}",
                        field=f"{self.kind.plural}[{i}].{column}",
                    )
        for column, first in self.first_ref.items():
            for i, row in enumerate(rows, start):
                ref = row.get(column)
                if ref and ref not in first:
                    first[ref] = i

    def _unknown_in(
        self, session: Session, writer: _OneBehind, rows: list[Values], start: int
    ) -> NotFound | None:
        """The first reference in this batch to a row that does not exist, if any."""
        for column, table in self.kind.references.items():
            found = self.found[column]
            refs = [row.get(column) for row in rows]
            new = {ref for ref in refs if ref} - found
            if new:
                writer.wait()
                found.update(_existing(session, col(table.id), new))
            for i, ref in enumerate(refs, start):
                if ref and ref not in found:
                    return self._not_found(column, table, i, ref)
        return None

    def first_unknown(self, session: Session) -> NotFound | None:
        """The first reference of the whole import to a row that does not exist, if any."""
        for column, table in self.kind.references.items():
            first = self.first_ref[column]
            found = _existing(session, col(table.id), first)
            missing = sorted((i, ref) for ref, i in first.items() if ref not in found)
            if missing:
                return self._not_found(column, table, *missing[0])
        return None

    def first_clash(self, session: Session) -> AlreadyExists | None:
        """The first row whose unique value is already stored, if any."""
        for column, first in self.first_unique.items():
            clash = _existing(session, getattr(self.kind.table, column), first)
            if clash:
                i = min(first[value] for value in clash)
                return AlreadyExists(
                    f"row {i}: a {self.kind.name} with this {column} exists",
                    field=f"{self.kind.plural}[{i}].{column}",
                )
        return None

    def _not_found(self, column: str, table: Any, i: int, ref: str) -> NotFound:
        return NotFound(
            f"row {i}: {table.__name__.lower()} {ref!r} not found",
            field=f"{self.kind.plural}[{i}].{column}",
        )

    def _prepared(
        self, session: Session, writer: _OneBehind, rows: list[Values], ids: list[str]
    ) -> list[Callable[[], None]]:
        """The inserts that store a batch, their values ready for the driver."""
        if self.kind is HOUSEHOLD:
            return self._prepared_households(session, writer, rows, ids)
        columns = [k for k in rows[0] if not k.startswith("_")] if rows else []
        stamp = {"create_time": self.stamp, "update_time": self.stamp, "version": 1}
        records = [
            {"id": row_id, **stamp, **{k: row[k] for k in columns}}
            for row, row_id in zip(rows, ids, strict=True)
        ]
        return [partial(bulk_insert, session, self.kind.table, records)]

    def _prepared_households(
        self, session: Session, writer: _OneBehind, rows: list[Values], ids: list[str]
    ) -> list[Callable[[], None]]:
        """Score each household; store it with its first filing (status history)."""
        villages = {row["village_id"] for row in rows} - self.counties.keys()
        if villages:
            writer.wait()
            self.counties.update(_counties(session, villages))
        stamp = self.driver_stamp
        households, filings = [], []
        assessed = _assessed(rows, self.scoring, self.templates)
        for row, row_id, scored in zip(rows, ids, assessed, strict=True):
            score, status, _sets = scored
            county = self.counties[row["village_id"]]
            causes = _json(self.json_cache, row["causes"])
            households.append(_household(row, row_id, stamp, county, causes, scored))
            filings.append((row_id, stamp, 0, status, score, row.get("_reason") or "imported"))
        return [
            tuple_insert(session, self.dialect, models.Household, HOUSEHOLD_COLUMNS, households),
            tuple_insert(session, self.dialect, models.StatusChange, FILING_COLUMNS, filings),
        ]


def _household(
    row: Values, row_id: str, stamp: Any, county: str, causes: str, scored: tuple[int, int, str]
) -> tuple[Any, ...]:
    """A new household's values in HOUSEHOLD_COLUMNS order (scored: score, status, sets)."""
    score, status, sets = scored
    extra = json.dumps(row["extra_indicators"]) if row.get("extra_indicators") else "{}"
    return (
        *(row_id, stamp, stamp, 1, row["village_id"], county, row["card_number"]),
        *(row["head_name"], row["members"], row["labour_force"], row["housing_safety"]),
        *(row["food_security"], row["children_schooling"], row["health"], row["disability"]),
        *(row["income_per_capita_fen"], causes, score, status, -1, extra, sets),
    )


def _existing(session: Session, column: Any, values: Iterable[str]) -> set[str]:
    wanted = sorted(set(values))
    found: set[str] = set()
    for start in range(0, len(wanted), QUERY_CHUNK):
        chunk = wanted[start : start + QUERY_CHUNK]
        found.update(session.scalars(select(column).where(db.one_of(session, column, chunk))))
    return found


def _counties(session: Session, village_ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(village_ids)
    counties: dict[str, str] = {}
    for start in range(0, len(wanted), QUERY_CHUNK):
        chunk = wanted[start : start + QUERY_CHUNK]
        stmt = select(col(models.Village.id), col(models.Village.county_code)).where(
            db.one_of(session, col(models.Village.id), chunk)
        )
        counties.update({village_id: county for village_id, county in session.execute(stmt)})
    return counties


def driver_time(session: Session, stamp: datetime) -> Any:
    """A time as SQLAlchemy hands it to the driver (SQLite stores its own text form), or on
    PostgreSQL as psycopg writes it (str of an aware datetime): rendered once per batch."""
    dialect = session.get_bind().dialect
    time_type = models.Household.__table__.c.create_time.type  # type: ignore[attr-defined]
    process = time_type.dialect_impl(dialect).bind_processor(dialect)
    return process(stamp) if process else str(stamp)


def _assessed(
    rows: list[Values], config: ScoringConfig, templates: dict[tuple[str, ...], str]
) -> list[tuple[int, int, str]]:
    """Each row's score, status and set scores as JSON text: the rows without extra
    indicators (nearly all) scored at once (scoring.assess_plain, ~1 µs a row against 6-7),
    the others one by one."""
    plain = [row for row in rows if not row.get("extra_indicators")]
    table = np.array([_PLAIN(row) for row in plain], dtype=np.float64)
    scores, statuses, names, subs = assess_plain(
        table.reshape(len(plain), len(PLAIN_COLUMNS)), config
    )
    template = _template(templates, names)
    batch = zip(scores, statuses, [template % values for values in subs], strict=True)
    assessed = []
    for row in rows:
        if row.get("extra_indicators"):
            score, status, sets = hooks.assess(row, config, ever_lifted_out=False)
            assessed.append((score, status, _json_ints(templates, sets)))
        else:
            assessed.append(next(batch))
    return assessed


_PLAIN = operator.itemgetter(*PLAIN_COLUMNS)


def _json_ints(templates: dict[tuple[str, ...], str], value: dict[str, int]) -> str:
    """json.dumps(value), the same text, for a dict of ints whose keys recur (the set
    scores: the scoring file's set names): one %-format a row instead of the encoder's
    2.5 µs (100,000 rows: 0.2 s of the import's one busy core)."""
    return _template(templates, tuple(value)) % tuple(value.values())


def _template(templates: dict[tuple[str, ...], str], keys: tuple[str, ...]) -> str:
    """The %-format of a JSON object of ints under these keys, made once."""
    template = templates.get(keys)
    if template is None:
        items = ", ".join(json.dumps(key).replace("%", "%%") + ": %d" for key in keys)
        template = templates[keys] = "{" + items + "}"
    return template


def _json(cache: dict[tuple[Any, ...], str], value: list[Any]) -> str:
    """value as JSON text; imports repeat few distinct values (cause lists), so each is
    encoded once."""
    key = tuple(value)
    text = cache.get(key)
    if text is None:
        text = cache[key] = json.dumps(value)
    return text
