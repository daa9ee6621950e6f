"""Households read as plain columns, for the reads that only read (ListHouseholds, GetHousehold).

A page of 1,000 households cost the server ~59 ms of CPU read as ORM-typed rows (py-spy and
per-stage timing, docs/benchmarks.md): psycopg's JSON loader on three columns a row and its
datetime decoding were most of the read, SQLAlchemy's Row looked up by name the rest. Here
the database hands over what the message wants: times as integer microseconds since the
epoch (computed by PostgreSQL; SQLite's stored text is parsed here), JSON as its text (parsed
here, and only when not empty), every column read by position.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, ColumnElement, Connection, Text, bindparam, cast, select
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from registry import db
from registry.resources import models

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Change(NamedTuple):
    """One status change of a household's history."""

    time_us: int
    old_status: int
    new_status: int
    score: int
    reason: str


class HouseholdRow(NamedTuple):
    """A household's columns, times in microseconds since the epoch, JSON parsed."""

    id: str
    village_id: str
    county_code: str
    card_number: str
    head_name: str
    members: int
    labour_force: int
    housing_safety: int
    food_security: int
    children_schooling: int
    health: int
    disability: int
    income_per_capita_fen: int
    causes: list[int]
    score: int
    status: int
    previous_score: int
    extra_indicators: dict[str, int]
    set_scores: dict[str, int]
    create_us: int
    update_us: int
    version: int
    history: list[Change]


class EpochMicros(FunctionElement[int]):
    """A timestamp column as integer microseconds since the epoch (on PostgreSQL; elsewhere
    the stored value, which `micros` converts)."""

    type = BigInteger()
    inherit_cache = True


@compiles(EpochMicros, "postgresql")
def _epoch_postgresql(element: EpochMicros, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"


@compiles(EpochMicros)
def _epoch_other(element: EpochMicros, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


def micros(value: int | str | dt.datetime) -> int:
    """Microseconds since the epoch of what EpochMicros read: an int already (PostgreSQL), or
    SQLite's stored text ('2026-12-06 18:00:00.123456', UTC), or a datetime."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# json.loads less its two whitespace regexes: 0.65 µs of its 1.6 (100,000 set scores a list)
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def parsed(text: str | None) -> Any:
    """A JSON column's text as its value (None for none); empty ones without the parser.

    The text is as fupin wrote it (no space around it): the decoder's scanner reads it
    straight; text it does not read to the end goes to json.loads, which says why."""
    if text is None or text in ("", "null"):
        return None
    if text == "{}":
        return {}
    if text == "[]":
        return []
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        end = -1
    return value if end == len(text) else json.loads(text)


_H: Any = models.Household.__table__  # type: ignore[attr-defined]
_S: Any = models.StatusChange.__table__  # type: ignore[attr-defined]
# The order of HouseholdRow's fields, history aside.
_COLUMNS = (
    *(_H.c[name] for name in HouseholdRow._fields[:13]),
    cast(_H.c.causes, Text),
    _H.c.score,
    _H.c.status,
    _H.c.previous_score,
    cast(_H.c.extra_indicators, Text),
    cast(_H.c.set_scores, Text),
    EpochMicros(_H.c.create_time),
    EpochMicros(_H.c.update_time),
    _H.c.version,
)
_HISTORY = (
    _S.c.household_id,
    EpochMicros(_S.c.time),
    _S.c.old_status,
    _S.c.new_status,
    _S.c.score,
    _S.c.reason,
)


def read_page(
    connection: Connection,
    conditions: Sequence[ColumnElement[bool]],
    limit: int,
    *,
    every: bool = False,
) -> list[HouseholdRow]:
    """Up to `limit` households that meet every condition, in id order, with their history.

    Two statements: the page, then the history of its ids (db.one_of; with ``every``,
    when the conditions leave out no household after the page's first, the history of the
    ids from its first to its last: one index range, 1.4-1.8 ms a page of 1,000 against
    2.7-3.5). One join was tried: with the statistics a fresh import leaves, PostgreSQL
    sorted the whole history table for it (160 ms against 15)."""
    stmt = select(*_COLUMNS).where(*conditions).order_by(_H.c.id).limit(limit)
    rows = connection.execute(stmt).all()
    if not rows:
        return []
    history: dict[str, list[Change]] = defaultdict(list)
    ids = [row[0] for row in rows]
    ours = (
        _S.c.household_id.between(ids[0], ids[-1])  # a household added since: not looked up
        if every
        else db.one_of(connection, _S.c.household_id, ids)
    )
    changes = select(*_HISTORY).where(ours)
    for household_id, time, old, new, score, reason in connection.execute(
        changes.order_by(_S.c.time, _S.c.id)
    ).all():
        history[household_id].append(Change(micros(time), old, new, score, reason))
    seen: dict[str | None, Any] = {}  # JSON texts of this page, parsed (causes repeat a lot)
    return [_household(row, history.get(row[0], []), seen) for row in rows]


# Built once: building a statement and its cache key costs about as much as a Get's query.
_ONE = (
    select(*_COLUMNS, *_HISTORY[1:])
    .select_from(_H.outerjoin(_S, _S.c.household_id == _H.c.id))
    .where(_H.c.id == bindparam("id"))
    .order_by(_S.c.time, _S.c.id)
)


# Its text for psycopg, sent on the driver's connection: SQLAlchemy's execution and result
# handling of the same statement cost ~0.17 ms of CPU a Get (0.35 against 0.18 ms, checkout
# included; 0.79 against 0.47 ms of wall time, in process, load ~4.7), a fifth of a Get's
# server CPU. psycopg prepares it on each connection after a few uses, as before.
_ONE_POSTGRESQL = str(_ONE.compile(dialect=postgresql_psycopg.dialect()))  # type: ignore[no-untyped-call]


def read_one(
    connection: Connection, household_id: str, conditions: Sequence[ColumnElement[bool]] = ()
) -> HouseholdRow | None:
    """The household of this id that meets every condition, with its history, or None: one
    statement (the history joined; one id leaves PostgreSQL no whole table to sort). Read
    on psycopg's own cursor when no condition is added (an unscoped caller on PostgreSQL)."""
    if conditions or connection.dialect.name != "postgresql":
        stmt = _ONE.where(*conditions) if conditions else _ONE
        rows: Sequence[Any] = connection.execute(stmt, {"id": household_id}).all()
    else:
        driver: Any = connection.connection.driver_connection  # a psycopg connection
        with db.driver_errors(connection, _ONE_POSTGRESQL), driver.cursor() as cursor:
            rows = cursor.execute(_ONE_POSTGRESQL, {"id": household_id}).fetchall()
    if not rows:
        return None
    width = len(_COLUMNS)
    history = [
        Change(micros(row[width]), *row[width + 1 :]) for row in rows if row[width] is not None
    ]
    return _household(rows[0][:width], history, {})


def _household(row: Any, history: list[Change], seen: dict[str | None, Any]) -> HouseholdRow:
    """The row as a HouseholdRow; `seen` holds the JSON texts parsed so far, whose values
    are shared between rows (they are only read)."""
    (*head, causes, score, status, previous, extra, sets, created, updated, version) = row
    for text in (causes, extra, sets):
        if text not in seen:
            seen[text] = parsed(text)
    return HouseholdRow._make(
        (
            *head,
            seen[causes] or [],
            score,
            status,
            previous,
            seen[extra] or {},
            seen[sets] or {},
            micros(created),
            micros(updated),
            version,
            history,
        )
    )
