"""Match runs in the registry: their records, the data a produce run reads, and the commit.

The commit reserves listing quantities and fills orders in one transaction. The listing and
order rows are locked in id order (FOR UPDATE on PostgreSQL; SQLite's write lock is taken at
BEGIN), checked, then updated, so concurrent commits serialize on the rows they share and never
oversell; the CHECK constraints (reserved <= quantity, filled <= max) are the last guard.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlmodel import Session, col

from registry.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from registry.ledger import chain as ledger
from registry.resources import models
from registry.resources.bulk import QUERY_CHUNK, bulk_insert
from registry.resources.query import Page, next_token
from registry.resources.store import RegistryStore, remember, replayed
from registry.runs import scopes as run_scopes
from registry.runs.scopes import EVERY, RunView


class RunState(enum.IntEnum):
    """Mirrors fupin.matcher.v1.RunState."""

    QUEUED = 1
    RUNNING = 2
    PROPOSED = 3
    COMMITTED = 4
    DISCARDED = 5
    FAILED = 6
    CANCELLED = 7


ACTIVE = (RunState.QUEUED, RunState.RUNNING)  # not yet ended
PRODUCE_KIND = 1  # fupin.matcher.v1.RunKind.PRODUCE
KIND_NAMES = {PRODUCE_KIND: "produce", 2: "aid", 3: "cadre", 4: "cadre"}  # for messages
MAX_REPORTED_SHORTFALLS = 30


@dataclass(frozen=True)
class Allocation:
    listing_id: str
    order_id: str
    kg: int


def create_run(
    store: RegistryStore,
    *,
    run_id: str,
    kind: int,
    parameters: bytes,
    owner: str,
    request_id: str = "",
    fingerprint: str = "",
    scope: str = "",
) -> tuple[models.MatchRun, bool]:
    """A new QUEUED run, or (for a retried request_id) the earlier one. Returns (run, created)."""
    with store.transaction(write=True) as session:
        if request_id:
            earlier = replayed(session, request_id, fingerprint)
            if earlier is not None:
                return _get(session, earlier[0]), False
        if session.get(models.MatchRun, run_id) is not None:
            raise AlreadyExists(f"run {run_id!r} exists", field="run_id")
        stamp = models.utcnow()
        run = models.MatchRun(
            id=run_id,
            kind=kind,
            state=RunState.QUEUED,
            parameters=parameters,
            owner=owner,
            scope=scope,
            create_time=stamp,
            update_time=stamp,
        )
        session.add(run)
        if request_id:
            remember(session, request_id, "match_run", fingerprint, [run_id])
        session.flush()
        return run, True


def update_run(
    store: RegistryStore,
    run_id: str,
    *,
    allocations: Sequence[Allocation] = (),
    **fields: Any,
) -> models.MatchRun:
    """Set fields of a run (state, status, objective, result, ...) and store its allocations;
    safe to retry (see settle)."""
    with store.transaction(write=True) as session:
        return settle(
            session,
            run_id,
            fields,
            models.RunAllocation,
            [{"run_id": run_id, "listing_id": a.listing_id, "order_id": a.order_id, "kg": a.kg}
             for a in allocations if a.kg > 0],
        )  # fmt: skip


def get_run(store: RegistryStore, run_id: str, *, view: RunView = EVERY) -> models.MatchRun:
    """The run, if `view` shows it; NOT_FOUND otherwise, exactly as for an unknown id."""
    with store.transaction() as session:
        condition = run_scopes.condition(view)
        if condition is None:
            return _get(session, run_id)
        table = models.MatchRun
        run = session.scalars(select(table).where(col(table.id) == run_id, condition)).first()
        if run is None:
            raise _not_found(run_id)
        return run


def list_runs(
    store: RegistryStore, *, page: Page, where: dict[str, Any], view: RunView = EVERY
) -> tuple[list[models.MatchRun], str]:
    """Runs newest first (ids are time-ordered) that `view` shows, without their results."""
    if page.size < 1:  # Pages from query.parse_page never are; a raw internal call can be.
        raise InvalidArgument.one("page.size", "must be at least 1")
    table = models.MatchRun
    stmt = select(table).order_by(col(table.id).desc())
    condition = run_scopes.condition(view)
    if condition is not None:
        stmt = stmt.where(condition)
    for column, value in where.items():
        stmt = stmt.where(getattr(table, column) == value)
    if page.after:
        stmt = stmt.where(col(table.id) < page.after)
    with store.transaction() as session:
        rows = list(session.scalars(stmt.limit(page.size + 1)))
    more = len(rows) > page.size
    rows = rows[: page.size]
    return rows, next_token(page, rows[-1].id) if more else ""


def discard_run(store: RegistryStore, run_id: str, *, etag: str = "") -> models.MatchRun:
    with store.transaction(write=True) as session:
        run = _get(session, run_id, lock=True)
        _check_proposed(run, etag)
        run.state = RunState.DISCARDED
        run.version += 1
        run.update_time = models.utcnow()
        session.add(run)
        return run


def commit_produce(
    store: RegistryStore, run_id: str, *, request_id: str = "", etag: str = ""
) -> models.MatchRun:
    """Apply a proposed produce run to the registry, all of it or nothing."""
    with store.transaction(write=True) as session:
        run, replay = to_commit(session, run_id, (PRODUCE_KIND,), request_id=request_id, etag=etag)
        if replay:
            return run
        allocations = list(
            session.scalars(
                select(models.RunAllocation).where(col(models.RunAllocation.run_id) == run_id)
            )
        )
        _reserve(session, allocations)
        ledger.append(session, _ledger_entries(run_id, allocations))
        return mark_committed(session, run, request_id)


def settle(
    session: Session, run_id: str, fields: dict[str, Any], table: Any, rows: list[dict[str, Any]]
) -> models.MatchRun:
    """Set fields of a run that has not ended (with a new version) and store its rows of
    `table` (allocations, commit items) in place of any stored before. A run ends once: one
    that has already ended (by an earlier attempt whose reply was lost) is returned unchanged.
    So a retry writes nothing twice and never reopens a run committed meanwhile."""
    run = locked_run(session, run_id)
    if run.state not in ACTIVE:
        return run
    for name, value in fields.items():
        setattr(run, name, value)
    run.version += 1
    run.update_time = models.utcnow()
    session.add(run)
    replace_rows(session, table, run_id, rows)
    session.flush()
    return run


def locked_run(session: Session, run_id: str) -> models.MatchRun:
    """The run, locked until the transaction ends (NOT_FOUND if there is none)."""
    return _get(session, run_id, lock=True)


def replace_rows(session: Session, table: Any, run_id: str, rows: list[dict[str, Any]]) -> None:
    """Store a run's rows of `table` in place of any stored before, so that a retried store
    (its first reply lost) leaves them once."""
    session.execute(delete(table).where(table.run_id == run_id))
    bulk_insert(session, table, rows)


def to_commit(
    session: Session, run_id: str, kinds: tuple[int, ...], *, request_id: str, etag: str
) -> tuple[models.MatchRun, bool]:
    """The run a commit applies (one of `kinds`), locked and checked; (run, True) for a
    replayed request_id."""
    if request_id:
        earlier = replayed(session, request_id, f"commit:{run_id}")
        if earlier is not None:
            return _get(session, earlier[0]), True
    run = _get(session, run_id, lock=True)
    if run.kind not in kinds:
        name = KIND_NAMES.get(kinds[0], kinds[0])
        raise FailedPrecondition(f"run {run_id} is not a {name} run")
    _check_proposed(run, etag)
    return run, False


def mark_committed(session: Session, run: models.MatchRun, request_id: str) -> models.MatchRun:
    run.state = RunState.COMMITTED
    run.version += 1
    run.update_time = models.utcnow()
    session.add(run)
    if request_id:
        remember(session, request_id, "commit_match_run", f"commit:{run.id}", [run.id])
    return run


def _reserve(session: Session, allocations: Sequence[models.RunAllocation]) -> None:
    need: dict[str, int] = defaultdict(int)
    fill: dict[str, int] = defaultdict(int)
    for a in allocations:
        need[a.listing_id] += a.kg
        fill[a.order_id] += a.kg
    listing, order = models.Listing, models.Order
    short = _locked_shortfalls(session, listing, "quantity_kg", "reserved_kg", need, "listings")
    short += _locked_shortfalls(session, order, "max_quantity_kg", "filled_kg", fill, "orders")
    if short:
        names = ", ".join(v.field for v in short[:10])
        more = f" and {len(short) - 10} more" if len(short) > 10 else ""
        # The details travel in the trailers: gRPC refuses more than 8 KB by default.
        raise Aborted(
            f"the registry changed; the allocation no longer fits: {names}{more}",
            short[:MAX_REPORTED_SHORTFALLS],
        )
    _add(session, listing, "reserved_kg", need)
    _add(session, order, "filled_kg", fill)


def _locked_shortfalls(
    session: Session,
    table: Any,
    cap: str,
    used: str,
    want: dict[str, int],
    label: str,
    unit: str = "kg",
) -> list[FieldViolation]:
    """Lock the rows (in id order, so concurrent commits cannot deadlock) and check capacity."""
    found: dict[str, tuple[int, int]] = {}
    ids = sorted(want)
    for start in range(0, len(ids), QUERY_CHUNK):
        stmt = (
            select(table.id, getattr(table, cap), getattr(table, used))
            .where(table.id.in_(ids[start : start + QUERY_CHUNK]))
            .order_by(table.id)
            .with_for_update()
        )
        found.update({rid: (c, u) for rid, c, u in session.execute(stmt)})
    out = []
    for rid in ids:
        if rid not in found:
            out.append(FieldViolation(f"{label}[{rid}]", "no longer exists"))
        elif found[rid][1] + want[rid] > found[rid][0]:
            free = found[rid][0] - found[rid][1]
            need = f"needs {want[rid]} {unit}, {free} {unit} free"
            out.append(FieldViolation(f"{label}[{rid}]", need))
    return out


def _add(session: Session, table: Any, column: str, amounts: dict[str, int]) -> None:
    if not amounts:
        return
    stmt = (
        update(table)
        .where(table.id == bindparam("rid"))
        .values({column: getattr(table, column) + bindparam("delta"), "version": table.version + 1})
    )
    session.connection().execute(stmt, [{"rid": k, "delta": v} for k, v in amounts.items()])


def _ledger_entries(run_id: str, allocations: Iterable[models.RunAllocation]) -> list[ledger.Entry]:
    return [
        ledger.Entry(
            kind="produce_commit",
            run_id=run_id,
            subject_id=a.listing_id,
            counterpart_id=a.order_id,
            quantity=a.kg,
        )
        for a in allocations
    ]


def _check_proposed(run: models.MatchRun, etag: str) -> None:
    if etag and etag != f'"{run.version}"':
        raise Aborted(f'etag {etag} is stale (now "{run.version}"); re-read and retry')
    if run.state != RunState.PROPOSED:
        raise FailedPrecondition(f"run {run.id} is {RunState(run.state).name}, not PROPOSED")


def _get(session: Session, run_id: str, *, lock: bool = False) -> models.MatchRun:
    run = session.get(models.MatchRun, run_id, with_for_update=lock)
    if run is None:
        raise _not_found(run_id)
    return run


def _not_found(run_id: str) -> NotFound:
    return NotFound(f"run {run_id!r} not found", field="id")
