"""Many rows at once: written by COPY on PostgreSQL (several times faster than INSERT) and
by one executemany elsewhere, and looked up by id in chunks that every driver takes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from sqlalchemy import JSON, insert
from sqlmodel import Session

from registry import db

Values = dict[str, Any]
QUERY_CHUNK = 5000  # ids per IN (...) query: well under every driver's parameter limit
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def tuple_insert(
    session: Session, dialect: str, table: Any, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> Callable[[], None]:
    """An insert of rows of values the driver takes as they are (JSON as text, rendered
    times), made ready now and run later (on the writer's thread): on PostgreSQL a COPY of
    text formatted here, on SQLite one executemany. Neither pays SQLAlchemy's per-row work."""
    names = ", ".join(columns)
    if dialect == "postgresql":
        statement = f"COPY {table.__tablename__} ({names}) FROM STDIN"
        return partial(_copy_text, session, statement, _copy_format(rows))
    marks = ", ".join("?" * len(columns))  # SQLite's parameter style
    statement = f"INSERT INTO {table.__tablename__} ({names}) VALUES ({marks})"
    return partial(_execute_many, session, statement, rows)


def _copy_format(rows: list[tuple[Any, ...]]) -> str:
    """Rows of str and int values in COPY's text format, built at C speed: joined, then every
    backslash escaped. Validated text holds no tab, newline or carriage return, but were one
    there it would show in the counts and the rows be escaped value by value instead."""
    if not rows:
        return ""
    # One %-format a row: half the time of joining map(str, row) (same text: %s is str()).
    line = "\t".join(["%s"] * len(rows[0])) + "\n"
    text = "".join([line % row for row in rows])
    tabs = len(rows) * (len(rows[0]) - 1)
    if text.count("\n") == len(rows) and text.count("\t") == tabs and "\r" not in text:
        return text.replace("\\", "\\\\")
    return "".join(
        ["\t".join([str(v).translate(_COPY_ESCAPES) for v in row]) + "\n" for row in rows]
    )


def _copy_text(session: Session, statement: str, text: str) -> None:
    if text:
        _copy(session.connection(), statement, lambda copy: copy.write(text))


def _execute_many(session: Session, statement: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        session.connection().exec_driver_sql(statement, rows)


def bulk_insert(session: Session, table: Any, records: list[Values]) -> None:
    """Insert many rows: COPY on PostgreSQL (several times faster), executemany elsewhere."""
    if not records:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(table.__table__), records)
        return
    _fill_defaults(table, records)
    columns = list(records[0])
    json_columns = {c.name for c in table.__table__.columns if isinstance(c.type, JSON)}
    statement = f"COPY {table.__tablename__} ({', '.join(columns)}) FROM STDIN"

    def send(copy: Any) -> None:
        for r in records:
            copy.write_row([json.dumps(r[c]) if c in json_columns else r[c] for c in columns])

    _copy(connection, statement, send)


def _copy(connection: Any, statement: str, send: Callable[[Any], None]) -> None:
    """Run a COPY ... FROM STDIN whose data `send` writes to the psycopg Copy object."""
    raw: Any = connection.connection.dbapi_connection  # a psycopg connection
    with (
        db.driver_errors(connection, statement),
        raw.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        send(copy)


def _fill_defaults(table: Any, records: list[Values]) -> None:
    """COPY bypasses SQLAlchemy's Python-side defaults, so apply them here."""
    for column in table.__table__.columns:
        default = column.default
        if column.name in records[0] or default is None or column.primary_key:
            continue
        for record in records:
            record[column.name] = default.arg(None) if default.is_callable else default.arg
