"""The commit of a proposed run, whatever its kind, in one transaction: lock the run and check
it (or replay an earlier commit by request_id), lock the rows it changes and check them, write,
append its ledger entries, mark the run COMMITTED. All of it or nothing.

Rows are locked in id order (FOR UPDATE on PostgreSQL; SQLite's write lock is taken at BEGIN),
so concurrent commits serialize on the rows they share and cannot deadlock; each kind's checks
run under those locks, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from registry.errors import FieldViolation
from registry.ledger import chain as ledger
from registry.resources import models
from registry.resources.bulk import QUERY_CHUNK
from registry.resources.store import RegistryStore
from registry.runs.records import mark_committed, to_commit

# A kind's part of the commit: lock, check and write the rows its run changes, under the run's
# lock; returns the ledger entries for what it wrote.
Apply = Callable[[Session, models.MatchRun], list[ledger.Entry]]


def commit(
    store: RegistryStore,
    run_id: str,
    kinds: tuple[int, ...],
    apply: Apply,
    *,
    request_id: str,
    etag: str,
) -> models.MatchRun:
    """Apply a proposed run of one of `kinds` (module doc); idempotent by request_id."""
    with store.transaction(write=True) as session:
        run, replay = to_commit(session, run_id, kinds, request_id=request_id, etag=etag)
        if replay:
            return run
        ledger.append(session, apply(session, run))
        return mark_committed(session, run, request_id)


def lock_rows(
    session: Session, table: Any, columns: Sequence[str], ids: Sequence[str]
) -> dict[str, tuple[Any, ...]]:
    """Lock the rows of `table` with these ids, in id order, and read their `columns`: the
    values by id, for the ids that still exist. In chunks of QUERY_CHUNK ids, each in order."""
    wanted = sorted(ids)
    found: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(wanted), QUERY_CHUNK):
        stmt = (
            select(table.id, *(getattr(table, c) for c in columns))
            .where(table.id.in_(wanted[start : start + QUERY_CHUNK]))
            .order_by(table.id)
            .with_for_update()
        )
        found.update({rid: tuple(values) for rid, *values in session.execute(stmt)})
    return found


def locked_shortfalls(
    session: Session,
    table: Any,
    cap: str,
    used: str,
    want: dict[str, int],
    label: str,
    unit: str = "kg",
) -> list[FieldViolation]:
    """Lock the rows and check each has room for `want` more of `used` under `cap`: a
    violation naming `label[ID]` for each that has not, or no longer exists."""
    found = lock_rows(session, table, (cap, used), list(want))
    out = []
    for rid in sorted(want):
        if rid not in found:
            out.append(FieldViolation(f"{label}[{rid}]", "no longer exists"))
        elif found[rid][1] + want[rid] > found[rid][0]:
            free = found[rid][0] - found[rid][1]
            need = f"needs {want[rid]} {unit}, {free} {unit} free"
            out.append(FieldViolation(f"{label}[{rid}]", need))
    return out


def add_amounts(session: Session, table: Any, column: str, amounts: dict[str, int]) -> None:
    """Add each amount to the row's `column`, bumping its version."""
    if not amounts:
        return
    stmt = (
        update(table)
        .where(table.id == bindparam("rid"))
        .values({column: getattr(table, column) + bindparam("delta"), "version": table.version + 1})
    )
    session.connection().execute(stmt, [{"rid": k, "delta": v} for k, v in amounts.items()])
