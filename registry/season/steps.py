"""Shipment steps, one or a batch (AIP-235) in one transaction: the engine under
registry/season/shipments.py and payments.py.

The shipments are locked first, by one statement in id order (FOR UPDATE on PostgreSQL;
SQLite's write lock is taken at BEGIN), so a batch and the single calls on the same shipments
serialize on their rows, and two batches cannot deadlock on them. The request ids are then
read under those locks by one statement; a replayed item changes nothing. Each item's change
runs on its locked row in request order (two items on one shipment see each other's change),
then `finish` (what a batch does once: a payment's incomes), then the rows are flushed, and
only then is the ledger's append lock taken: one extension of the chain for the whole batch,
in the same transaction, so nobody waits on rows while holding that lock and the time every
other step waits for it is the append and the commit (docs/benchmarks.md, season).

A refused item refuses the batch (the transaction rolls back): its error names the item,
`requests[i].field` in an INVALID_ARGUMENT, a message starting `requests[i]: ` otherwise. A
single call is a batch of one whose errors name the field alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from registry import db
from registry.access.policy import Principal
from registry.errors import (
    AlreadyExists,
    FailedPrecondition,
    FupinError,
    InvalidArgument,
    NotFound,
)
from registry.ledger import chain as ledger
from registry.resources import models
from registry.resources.store import RegistryStore, remember, replay
from registry.season.models import Shipment

MAX_BATCH = 500  # items per batch RPC (proto/fupin/registry/v1/season_service.proto)

# A step's change to a locked shipment in a state it accepts: returns its ledger entries.
Change = Callable[[Session, Shipment], list[ledger.Entry]]
# What a batch does once, after every item's change, before the flush and the ledger.
Finish = Callable[[Session], None]


@dataclass(frozen=True)
class Item:
    """One step: the shipment, its change, and its request id (stored form) and fingerprint."""

    shipment_id: str
    change: Change
    request_id: str = ""
    fingerprint: str = ""
    id_field: str = "id"  # the request's field naming the shipment


def run(
    store: RegistryStore,
    method: str,
    items: Sequence[Item],
    reader: Principal,
    readable: Callable[[Principal], ColumnElement[bool] | None],
    *,
    batch: bool,
    finish: Finish | None = None,
) -> list[Shipment]:
    """Apply the items in one transaction; their shipments as they end, in request order."""
    try:
        with store.transaction(write=True) as session:
            rows = _locked(session, items, reader, readable, batch)
            keys = stored_keys(session, [i.request_id for i in items if i.request_id])
            entries: list[ledger.Entry] = []
            for index, item in enumerate(items):
                row = rows[item.shipment_id]
                with naming(index if batch else None):
                    key = keys.get(item.request_id)
                    if key is not None:
                        replay(key, item.fingerprint)
                        continue
                    entries += item.change(session, row)
                    row.update_time, row.version = models.utcnow(), row.version + 1
                    if item.request_id:
                        remember(session, item.request_id, method, item.fingerprint, [row.id])
            if finish is not None:
                finish(session)
            session.flush()  # the rows before the ledger's lock (module docstring)
            ledger.append(session, entries)
            return [rows[i.shipment_id] for i in items]
    except IntegrityError as exc:
        # Two different steps under one request_id at once: the second insert of the key.
        if "idempotency" in str(exc.orig).lower():
            message = "request_id is in use by another request"
            raise AlreadyExists(message, field="request_id") from exc
        raise FailedPrecondition(f"the shipment conflicts with stored data: {exc.orig}") from exc


def _locked(
    session: Session,
    items: Sequence[Item],
    reader: Principal,
    readable: Callable[[Principal], ColumnElement[bool] | None],
    batch: bool,
) -> dict[str, Shipment]:
    ids = sorted({i.shipment_id for i in items})
    stmt = select(Shipment).where(db.one_of(session, col(Shipment.id), ids))
    condition = readable(reader)
    if condition is not None:
        stmt = stmt.where(condition)
    rows = {r.id: r for r in session.scalars(stmt.order_by(col(Shipment.id)).with_for_update())}
    for index, item in enumerate(items):
        if item.shipment_id not in rows:
            with naming(index if batch else None):
                raise NotFound(f"shipment {item.shipment_id} not found", field=item.id_field)
    return rows


def stored_keys(session: Session, request_ids: list[str]) -> dict[str, models.IdempotencyKey]:
    if not request_ids:
        return {}
    key = models.IdempotencyKey
    stmt = select(key).where(db.one_of(session, col(key.request_id), request_ids))
    return {k.request_id: k for k in session.scalars(stmt)}


@contextmanager
def naming(index: int | None) -> Iterator[None]:
    """Re-raise an item's error naming the item: `requests[i].` before its fields,
    `requests[i]: ` before its message. None: a single call, left as it is."""
    try:
        yield
    except FupinError as exc:
        if index is None:
            raise
        raise named(exc, f"requests[{index}]") from exc


def named(exc: FupinError, path: str) -> FupinError:
    """The same error about the item at `path` of a batch."""
    if isinstance(exc, InvalidArgument):
        return InvalidArgument([replace(v, field=f"{path}.{v.field}") for v in exc.violations])
    if isinstance(exc, NotFound):  # AlreadyExists too
        field = f"{path}.{exc.field}" if exc.field else ""
        return type(exc)(f"{path}: {exc.message}", field=field)
    if isinstance(exc, FailedPrecondition):
        return type(exc)(f"{path}: {exc.message}")
    return exc
