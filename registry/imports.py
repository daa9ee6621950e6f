"""All-or-nothing bulk import of households, listings and cadres.

Rows arrive validated (column values); this checks references and uniqueness for the whole
batch with a few set-based queries, then inserts everything in one transaction. One bad row
rejects the batch, naming the row and field, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from registry import hooks, models
from registry.errors import AlreadyExists, NotFound
from registry.kinds import HOUSEHOLD, Kind
from registry.store import RegistryStore, new_id, remember, replayed

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
    with store.transaction() as session:
        if request_id:
            earlier = replayed(session, request_id, fingerprint)
            if earlier is not None:
                return earlier
        _check_batch_references(session, kind, rows)
        _check_batch_unique(session, kind, rows)
        ids = _insert_batch(session, kind, rows, store)
        if request_id:
            remember(session, request_id, f"import_{kind.plural}", fingerprint, ids)
        try:
            session.flush()
        except IntegrityError as exc:
            raise AlreadyExists(f"the import conflicts with stored {kind.plural}") from exc
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


def _check_batch_unique(session: Session, kind: Kind, rows: Sequence[Values]) -> None:
    for column in kind.unique:
        seen: dict[str, int] = {}
        for i, row in enumerate(rows):
            if row[column] in seen:
                raise AlreadyExists(
                    f"row {i}: {column} repeats row {seen[row[column]]}",
                    field=f"{kind.plural}[{i}].{column}",
                )
            seen[row[column]] = i
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
    records: list[Values] = []
    for row in rows:
        record = {k: v for k, v in row.items() if not k.startswith("_")}
        record.update(id=new_id(kind.id_prefix), create_time=stamp, update_time=stamp, version=1)
        records.append(record)
    if kind is HOUSEHOLD:
        _score_households(session, records, rows, store)
    if records:
        session.execute(insert(kind.table), records)
    if kind is HOUSEHOLD and records:
        session.execute(insert(models.StatusChange), _first_filings(records, rows, stamp))
    return [r["id"] for r in records]


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
