"""Match run records, whatever their kind: created QUEUED, settled once with their rows, read,
listed, discarded, and the checks and state change of a commit (registry/runs/commit.py).

A run ends once (PROPOSED then COMMITTED or DISCARDED, or FAILED or CANCELLED); every change
bumps its version, which is its etag.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import DecodeError
from sqlalchemy import ColumnElement, and_, delete, exists, or_, select
from sqlmodel import Session, col

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from registry.access import scopes as access_scopes
from registry.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from registry.resources import models
from registry.resources.bulk import bulk_insert, tuple_insert
from registry.resources.checks import CONTROL
from registry.resources.query import Page, next_token
from registry.resources.requests import REGION_CODE, REQUEST_ID, RESOURCE_ID
from registry.resources.store import RegistryStore, remember, replayed
from registry.runs import scopes as run_scopes
from registry.runs.data import ACTIVE, Allocation, RunState
from registry.runs.scopes import EVERY, RunView

KIND_NAMES = {1: "produce", 2: "aid", 3: "cadre", 4: "cadre"}  # by RunKind, for messages
MAX_PARAMETERS_BYTES = 4096
ALLOCATION_COLUMNS = ("run_id", "listing_id", "order_id", "kg")


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
    owner_key_id: str = "",
) -> tuple[models.MatchRun, bool]:
    """A new QUEUED run, or (for a retried request_id) the earlier one. Returns (run, created).

    Every field is checked first: the internal MatcherStoreService passes them as sent, and a
    stored run that cannot be read back would fail every ListMatchRuns that reaches it."""
    _check_new_run(run_id, kind, parameters, owner, request_id, fingerprint, scope, owner_key_id)
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
            owner_key_id=owner_key_id,
            create_time=stamp,
            update_time=stamp,
        )
        session.add(run)
        if request_id:
            remember(session, request_id, "match_run", fingerprint, [run_id])
        session.flush()
        return run, True


BUYER_ID = re.compile(r"buy-[0-9a-f]{1,36}")  # ids from registry/resources/store.py new_id


def _check_new_run(run_id: str, kind: int, parameters: bytes, *texts: str) -> None:
    owner, request_id, fingerprint, scope, owner_key_id = texts
    bad = []
    if not RESOURCE_ID.fullmatch(run_id):
        bad.append(FieldViolation("run_id", "must be 1 to 40 letters, digits, '_' or '-'"))
    if kind not in KIND_NAMES:
        bad.append(FieldViolation("kind", f"unknown run kind {kind}"))
    if len(parameters) > MAX_PARAMETERS_BYTES:
        bad.append(FieldViolation("parameters", f"must be at most {MAX_PARAMETERS_BYTES} bytes"))
    else:
        try:
            mpb.SolveParameters.FromString(parameters)
        except DecodeError:
            bad.append(FieldViolation("parameters", "is not a serialized SolveParameters"))
    if not 0 < len(owner) <= 100 or CONTROL.search(owner):
        bad.append(FieldViolation("owner", "must be 1 to 100 printable characters"))
    if request_id and not REQUEST_ID.fullmatch(request_id):
        bad.append(FieldViolation("request_id", "is not a valid request id"))
    if not RESOURCE_ID.fullmatch(owner_key_id or "-"):
        bad.append(FieldViolation("owner_key_id", "must be 1 to 40 letters, digits, '_' or '-'"))
    if len(fingerprint) > 100:
        bad.append(FieldViolation("fingerprint", "must be at most 100 characters"))
    # A run's scope: the region of an aid or cadre run, or the buyer of a platform's produce run.
    if not (REGION_CODE.fullmatch(scope) or BUYER_ID.fullmatch(scope)):
        bad.append(FieldViolation("scope", "must be a region code (digits) or a buyer id"))
    if bad:
        raise InvalidArgument(bad)


def update_run(
    store: RegistryStore,
    run_id: str,
    *,
    allocations: Sequence[Allocation] = (),
    **fields: Any,
) -> models.MatchRun:
    """Set fields of a run (state, status, objective, result, ...) and store its allocations;
    safe to retry (see settle)."""
    # Tuples straight to the driver: a produce run of 100,000 listings has as many
    # allocations, and SQLAlchemy's per-row parameter work took 0.3 s of 0.4 on SQLite.
    rows = [(run_id, a.listing_id, a.order_id, a.kg) for a in allocations if a.kg > 0]
    with store.transaction(write=True) as session:
        return settle(session, run_id, fields, models.RunAllocation, (ALLOCATION_COLUMNS, rows))


def get_run(store: RegistryStore, run_id: str, *, view: RunView = EVERY) -> models.MatchRun:
    """The run, if `view` shows it; NOT_FOUND otherwise, exactly as for an unknown id."""
    with store.transaction() as session:
        condition = view_condition(view)
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
    condition = view_condition(view)
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


def discard_run(
    store: RegistryStore, run_id: str, *, etag: str = "", request_id: str = ""
) -> models.MatchRun:
    """Discard a PROPOSED run; idempotent by request_id (a retry returns the discarded run)."""
    with store.transaction(write=True) as session:
        if request_id:
            earlier = replayed(session, request_id, f"discard:{run_id}")
            if earlier is not None:
                return _get(session, earlier[0])
        run = _get(session, run_id, lock=True)
        _check_proposed(run, etag)
        run.state = RunState.DISCARDED
        run.version += 1
        run.update_time = models.utcnow()
        session.add(run)
        if request_id:
            remember(session, request_id, "discard_match_run", f"discard:{run_id}", [run_id])
        return run


def settle(
    session: Session,
    run_id: str,
    fields: dict[str, Any],
    table: Any,
    rows: list[dict[str, Any]] | TupleRows,
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


# Rows as (column names, tuples of plain values the driver takes as they are).
TupleRows = tuple[Sequence[str], list[tuple[Any, ...]]]


def replace_rows(
    session: Session, table: Any, run_id: str, rows: list[dict[str, Any]] | TupleRows
) -> None:
    """Store a run's rows of `table` in place of any stored before, so that a retried store
    (its first reply lost) leaves them once."""
    session.execute(delete(table).where(table.run_id == run_id))
    if isinstance(rows, tuple):
        columns, values = rows
        tuple_insert(session, session.connection().dialect.name, table, columns, values)()
    else:
        bulk_insert(session, table, rows)


def run_rows(session: Session, table: Any, run_id: str) -> list[Any]:
    """A run's stored rows of `table` (allocations, grants, cadre items)."""
    return list(session.scalars(select(table).where(col(table.run_id) == run_id)))


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


def view_condition(view: RunView) -> ColumnElement[bool] | None:
    """The SQL condition on match_run rows of this view; None: every run."""
    run = models.MatchRun
    parts: list[ColumnElement[bool]] = []
    if view.kinds:
        parts.append(col(run.kind).in_(view.kinds))
    if view.owner:
        parts.append(and_(col(run.kind) == run_scopes.PRODUCE_KIND, col(run.scope) == view.owner))
    if view.region:
        scoped = col(run.scope).startswith(view.region, autoescape=True)
        produce = col(run.kind) == run_scopes.PRODUCE_KIND
        if view.produce_of_region:
            produce = and_(produce, _allocates_in(view.region))
        parts.append(or_(produce, and_(col(run.kind) != run_scopes.PRODUCE_KIND, scoped)))
    return and_(*parts) if parts else None


def _allocates_in(region: str) -> ColumnElement[bool]:
    """The run allocates produce of a producer of this region."""
    allocation, listing = models.RunAllocation, models.Listing
    return exists(
        select(col(allocation.run_id))
        .join(listing, col(listing.id) == col(allocation.listing_id))
        .where(
            col(allocation.run_id) == col(models.MatchRun.id),
            col(listing.producer_id).in_(access_scopes.producers_in(region)),
        )
    )
