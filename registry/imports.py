"""All-or-nothing bulk import of households, listings and cadres.

Rows arrive validated (column values); this checks references and uniqueness for the whole
batch with a few set-based queries, then inserts everything in one transaction. One bad row
rejects the batch, naming the row and field, and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
import structlog
from sqlalchemy import JSON, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col

from registry import hooks, models
from registry.errors import AlreadyExists, FailedPrecondition, NotFound
from registry.kinds import HOUSEHOLD, Kind
from registry.store import RegistryStore, new_ids, remember, replayed

log = structlog.get_logger(__name__)
Values = dict[str, Any]
QUERY_CHUNK = 5000  # ids per IN (...) query: well under every driver's parameter limit


def import_rows(
    store: RegistryStore,
    kind: Kind,
    rows: Sequence[Values],
    *,
    request_id: str = "",
    fingerprint: str = "",
) -> list[str]:
    """Store every row or none; returns the new ids in input order."""
    _check_unique_within(kind, rows)
    try:
        with store.transaction(write=True) as session:
            if request_id:
                earlier = replayed(session, request_id, fingerprint)
                if earlier is not None:
                    return earlier
            _check_batch_references(session, kind, rows)
            ids = _insert_batch(session, kind, rows, store)
            if request_id:
                remember(session, request_id, f"import_{kind.plural}", fingerprint, ids)
            session.flush()
    except IntegrityError as exc:
        # Clashes with stored rows are rare, so they are looked for only once the insert
        # failed (the transaction is gone): find the first clashing row to name it.
        with store.transaction() as session:
            _check_unique_stored(session, kind, rows)
        log.warning("import_conflict", kind=kind.plural, error=str(exc.orig)[:300])
        raise FailedPrecondition(f"the import conflicts with stored data: {exc.orig}") from exc
    log.info("import_stored", kind=kind.plural, rows=len(ids))
    return ids


def _existing(session: Session, table: Any, column: Any, values: Iterable[str]) -> set[str]:
    wanted = sorted(set(values))
    found: set[str] = set()
    for start in range(0, len(wanted), QUERY_CHUNK):
        chunk = wanted[start : start + QUERY_CHUNK]
        found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found


def _check_batch_references(session: Session, kind: Kind, rows: Sequence[Values]) -> None:
    for column, table in kind.references.items():
        refs = [row.get(column) for row in rows]
        found = _existing(session, table, col(table.id), (r for r in refs if r))
        for i, ref in enumerate(refs):
            if ref and ref not in found:
                raise NotFound(
                    f"row {i}: {table.__name__.lower()} {ref!r} not found",
                    field=f"{kind.plural}[{i}].{column}",
                )


def _check_unique_within(kind: Kind, rows: Sequence[Values]) -> None:
    for column in kind.unique:
        seen: dict[str, int] = {}
        for i, row in enumerate(rows):
            if row[column] in seen:
                raise AlreadyExists(
                    f"row {i}: {column} repeats row {seen[row[column]]}",
                    field=f"{kind.plural}[{i}].{column}",
                )
            seen[row[column]] = i


def _check_unique_stored(session: Session, kind: Kind, rows: Sequence[Values]) -> None:
    for column in kind.unique:
        seen = {row[column]: i for i, row in reversed(list(enumerate(rows)))}
        clash = _existing(session, kind.table, getattr(kind.table, column), seen)
        if clash:
            i = min(seen[value] for value in clash)
            raise AlreadyExists(
                f"row {i}: a {kind.name} with this {column} exists",
                field=f"{kind.plural}[{i}].{column}",
            )


def _insert_batch(
    session: Session, kind: Kind, rows: Sequence[Values], store: RegistryStore
) -> list[str]:
    stamp = models.utcnow()
    columns = [k for k in rows[0] if not k.startswith("_")] if rows else []
    records: list[Values] = []
    for row, row_id in zip(rows, new_ids(kind.id_prefix, len(rows)), strict=True):
        record = {k: row[k] for k in columns}
        record.update(id=row_id, create_time=stamp, update_time=stamp, version=1)
        records.append(record)
    if kind is HOUSEHOLD:
        _score_households(session, records, rows, store)
    bulk_insert(session, kind.table, records)
    if kind is HOUSEHOLD:
        bulk_insert(session, models.StatusChange, _first_filings(records, rows, stamp))
    return [r["id"] for r in records]


def bulk_insert(session: Session, table: Any, records: list[Values]) -> None:
    """Insert many rows: COPY on PostgreSQL (several times faster), executemany elsewhere."""
    if not records:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(table), records)
        return
    _fill_defaults(table, records)
    columns = list(records[0])
    json_columns = {c.name for c in table.__table__.columns if isinstance(c.type, JSON)}
    raw: Any = connection.connection.dbapi_connection  # a psycopg connection
    statement = f"COPY {table.__tablename__} ({', '.join(columns)}) FROM STDIN"
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for record in records:
                copy.write_row(
                    [json.dumps(record[c]) if c in json_columns else record[c] for c in columns]
                )
    except psycopg.IntegrityError as exc:  # the raw driver's errors, in SQLAlchemy's terms
        raise IntegrityError(statement, None, exc) from exc
    except psycopg.OperationalError as exc:
        raise OperationalError(statement, None, exc) from exc


def _score_households(
    session: Session, records: list[Values], rows: Sequence[Values], store: RegistryStore
) -> None:
    village_ids = {r["village_id"] for r in records}
    counties: dict[str, str] = {}
    for start in range(0, len(village_ids), QUERY_CHUNK):
        chunk = sorted(village_ids)[start : start + QUERY_CHUNK]
        stmt = select(col(models.Village.id), col(models.Village.county_code)).where(
            col(models.Village.id).in_(chunk)
        )
        counties.update({vid: county for vid, county in session.execute(stmt)})
    for record, row in zip(records, rows, strict=True):
        record["score"], record["status"] = hooks.assess(row, store.scoring, ever_lifted_out=False)
        record["county_code"] = counties[record["village_id"]]
        record["previous_score"] = -1


def _first_filings(records: list[Values], rows: Sequence[Values], stamp: Any) -> list[Values]:
    return [
        {
            "household_id": record["id"],
            "time": stamp,
            "old_status": 0,
            "new_status": record["status"],
            "score": record["score"],
            "reason": row.get("_reason") or "imported",
        }
        for record, row in zip(records, rows, strict=True)
    ]


def _fill_defaults(table: Any, records: list[Values]) -> None:
    """COPY bypasses SQLAlchemy's Python-side defaults, so apply them here."""
    for column in table.__table__.columns:
        default = column.default
        if column.name in records[0] or default is None or column.primary_key:
            continue
        for record in records:
            record[column.name] = default.arg(None) if default.is_callable else default.arg
