"""Shipments: a committed produce run's allocations on their way, dispatched, received (with
rejections and the price paid) or cancelled before dispatch (the kilograms go back).

Every step is one transaction: the shipment row is locked first (FOR UPDATE on PostgreSQL;
SQLite's write lock is taken at BEGIN), then, for a cancellation, its listing and order in
that order (registry/runs/commit.py lock_rows) — the order a commit takes them in, so steps and
commits serialize on what they share and cannot deadlock. The state is checked under the lock,
so two cancellations or two receipts of one shipment never both pass: the second sees the
state the first left. Every step appends its ledger entries in the same transaction and is
idempotent by request_id (the key is read under the shipment's lock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, insert, select
from sqlmodel import Session, col

from registry.access import scopes
from registry.access.policy import INTERNAL, Principal, Role
from registry.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from registry.ledger import chain as ledger
from registry.resources import models
from registry.resources.bulk import QUERY_CHUNK
from registry.resources.query import Page, next_token
from registry.resources.store import RegistryStore, new_ids
from registry.runs.commit import add_amounts, lock_rows
from registry.season import entries, steps
from registry.season.models import CANCELLED, COMMITTED, DISPATCHED, RECEIVED, Shipment

STATE_NAMES = {
    COMMITTED: "SHIPMENT_COMMITTED",
    DISPATCHED: "SHIPMENT_DISPATCHED",
    RECEIVED: "SHIPMENT_RECEIVED",
    CANCELLED: "SHIPMENT_CANCELLED",
}
DISPATCH_ENTRY, RECEIPT_ENTRY, REJECTION_ENTRY = (
    entries.DISPATCH,
    entries.RECEIPT,
    entries.REJECTION,
)
CANCEL_ENTRY, PAYMENT_ENTRY = entries.CANCEL, entries.PAYMENT

Change = steps.Change


@dataclass(frozen=True)
class Receipt:
    """What the buyer received; paid_price_fen None: the order's price."""

    received_kg: int
    rejected_kg: int
    reject_reason: int
    paid_price_fen: int | None


def open_shipments(
    session: Session, run_id: str, allocations: Sequence[models.RunAllocation]
) -> None:
    """One COMMITTED shipment per allocation, in the commit's transaction (after its listings
    and orders were locked and updated), with the producer, buyer and price it was made at."""
    if not allocations:
        return
    listings = _column(session, models.Listing, "producer_id", {a.listing_id for a in allocations})
    orders = _column(session, models.Order, "buyer_id", {a.order_id for a in allocations})
    prices = _column(session, models.Order, "price_fen", {a.order_id for a in allocations})
    now = models.utcnow()
    ids = new_ids("shp", len(allocations))
    ordered = sorted(allocations, key=lambda a: (a.listing_id, a.order_id))
    rows = [
        {
            "id": sid,
            "run_id": run_id,
            "listing_id": a.listing_id,
            "order_id": a.order_id,
            "producer_id": listings[a.listing_id],
            "buyer_id": orders[a.order_id],
            "kg": a.kg,
            "state": COMMITTED,
            "price_fen": prices[a.order_id],
            "create_time": now,
            "update_time": now,
        }
        for sid, a in zip(ids, ordered, strict=True)
    ]
    session.execute(insert(Shipment), rows)


def _column(session: Session, table: type, column: str, ids: set[str]) -> dict[str, object]:
    wanted, out = sorted(ids), {}
    for start in range(0, len(wanted), QUERY_CHUNK):
        chunk = wanted[start : start + QUERY_CHUNK]
        stmt = select(table.id, getattr(table, column)).where(table.id.in_(chunk))  # type: ignore[attr-defined]
        out.update({key: value for key, value in session.execute(stmt)})
    return out


def readable(reader: Principal) -> ColumnElement[bool] | None:
    """The shipments this reader may see (None: all): a platform its buyer's, a cooperative its
    producer's, an office or auditor those of the producers in its region."""
    role, scope = reader.role, reader.scope
    if role is Role.ADMIN or (role is Role.AUDITOR and not scope):
        return None
    if role is Role.PLATFORM:
        return col(Shipment.buyer_id) == scope
    if role is Role.COOPERATIVE:
        return col(Shipment.producer_id) == scope
    return col(Shipment.producer_id).in_(scopes.producers_in(scope))


def get_shipment(store: RegistryStore, shipment_id: str, reader: Principal = INTERNAL) -> Shipment:
    with store.statement() as session:
        return _found(session.scalars(_one(shipment_id, reader)).first(), shipment_id)


def list_shipments(
    store: RegistryStore,
    *,
    page: Page,
    run_id: str = "",
    listing_id: str = "",
    order_id: str = "",
    state: int = 0,
    reader: Principal = INTERNAL,
) -> tuple[list[Shipment], str]:
    """Shipments in id order (keyset on id), the filters combined with AND."""
    stmt = select(Shipment).order_by(col(Shipment.id))
    for column, value in (
        (Shipment.run_id, run_id),
        (Shipment.listing_id, listing_id),
        (Shipment.order_id, order_id),
        (Shipment.state, state),
    ):
        if value:
            stmt = stmt.where(col(column) == value)
    condition = readable(reader)
    if condition is not None:
        stmt = stmt.where(condition)
    if page.after:
        stmt = stmt.where(col(Shipment.id) > page.after)
    with store.statement() as session:
        rows = list(session.scalars(stmt.limit(page.size + 1)))
    more = len(rows) > page.size
    rows = rows[: page.size]
    return rows, next_token(page, rows[-1].id) if more else ""


def dispatch(
    store: RegistryStore, shipment_id: str, *, reader: Principal, request_id: str, fingerprint: str
) -> Shipment:
    """COMMITTED -> DISPATCHED."""
    return step(
        store, shipment_id, "DispatchShipment", dispatching, reader, request_id, fingerprint
    )


def dispatching(session: Session, row: Shipment) -> list[ledger.Entry]:
    """The change of a dispatch."""
    expect(row, COMMITTED, "dispatched")
    row.state, row.dispatch_time = DISPATCHED, models.utcnow()
    return [entry(DISPATCH_ENTRY, row, row.kg)]


def receive(
    store: RegistryStore,
    shipment_id: str,
    receipt: Receipt,
    *,
    reader: Principal,
    request_id: str,
    fingerprint: str,
) -> Shipment:
    """DISPATCHED -> RECEIVED, with what was received, rejected and paid."""
    change = receiving(receipt)
    return step(store, shipment_id, "ReceiveShipment", change, reader, request_id, fingerprint)


def receiving(receipt: Receipt) -> Change:
    """The change of a receipt, checked (InvalidArgument naming the field)."""
    _check_receipt(receipt)

    def change(session: Session, row: Shipment) -> list[ledger.Entry]:
        expect(row, DISPATCHED, "received")
        if receipt.received_kg + receipt.rejected_kg > row.kg:
            field = "rejected_kg" if receipt.received_kg <= row.kg else "received_kg"
            raise InvalidArgument.one(
                field, f"received and rejected add up to more than the {row.kg} kg shipped"
            )
        price = row.price_fen if receipt.paid_price_fen is None else receipt.paid_price_fen
        row.received_kg, row.rejected_kg = receipt.received_kg, receipt.rejected_kg
        row.reject_reason, row.paid_price_fen = receipt.reject_reason, price
        row.state, row.receive_time = RECEIVED, models.utcnow()
        entries = [entry(RECEIPT_ENTRY, row, row.received_kg, row.received_kg * price)]
        if row.rejected_kg:
            entries.append(entry(REJECTION_ENTRY, row, row.rejected_kg))
        return entries

    return change


def cancel(
    store: RegistryStore,
    shipment_id: str,
    reason: str,
    *,
    reader: Principal,
    request_id: str,
    fingerprint: str,
) -> Shipment:
    """COMMITTED -> CANCELLED: the kilograms return to the listing and the order."""
    if not reason.strip() or len(reason) > 200:
        raise InvalidArgument.one("reason", "must say why, in 1-200 characters")

    def change(session: Session, row: Shipment) -> list[ledger.Entry]:
        expect(row, COMMITTED, "cancelled")
        lock_rows(session, models.Listing, ("reserved_kg",), [row.listing_id])
        lock_rows(session, models.Order, ("filled_kg",), [row.order_id])
        add_amounts(session, models.Listing, "reserved_kg", {row.listing_id: -row.kg})
        add_amounts(session, models.Order, "filled_kg", {row.order_id: -row.kg})
        row.state, row.cancel_time, row.cancel_reason = CANCELLED, models.utcnow(), reason
        return [entry(CANCEL_ENTRY, row, row.kg)]

    return step(store, shipment_id, "CancelShipment", change, reader, request_id, fingerprint)


def step(
    store: RegistryStore,
    shipment_id: str,
    method: str,
    change: Change,
    reader: Principal,
    request_id: str,
    fingerprint: str,
    *,
    id_field: str = "id",
    finish: steps.Finish | None = None,
) -> Shipment:
    """One step: lock the shipment, replay a seen request_id, else change it and write the
    ledger (registry/season/steps.py)."""
    item = steps.Item(shipment_id, change, request_id, fingerprint, id_field)
    return steps.run(store, method, [item], reader, readable, batch=False, finish=finish)[0]


def batch(
    store: RegistryStore,
    method: str,
    items: Sequence[steps.Item],
    reader: Principal,
    finish: steps.Finish | None = None,
) -> list[Shipment]:
    """A batch of one method's steps, all or nothing (registry/season/steps.py)."""
    return steps.run(store, method, items, reader, readable, batch=True, finish=finish)


def _one(shipment_id: str, reader: Principal) -> Select[Shipment]:
    stmt = select(Shipment).where(col(Shipment.id) == shipment_id)
    condition = readable(reader)
    return stmt if condition is None else stmt.where(condition)


def _found(row: Shipment | None, shipment_id: str) -> Shipment:
    if row is None:
        raise NotFound(f"shipment {shipment_id} not found", field="id")
    return row


def expect(row: Shipment, state: int, verb: str) -> None:
    if row.state != state:
        raise FailedPrecondition(
            f"shipment {row.id} is {STATE_NAMES[row.state]}: only a {STATE_NAMES[state]} "
            f"shipment can be {verb}"
        )


def _check_receipt(receipt: Receipt) -> None:
    bad = []
    if receipt.received_kg < 0:
        bad.append(("received_kg", "must not be negative"))
    if receipt.rejected_kg < 0:
        bad.append(("rejected_kg", "must not be negative"))
    if receipt.received_kg + receipt.rejected_kg < 1 and not bad:
        bad.append(("received_kg", "received and rejected must add up to at least 1 kg"))
    if receipt.reject_reason not in (0, 1, 2, 3):
        bad.append(("reject_reason", "is not a RejectReason"))
    elif receipt.rejected_kg > 0 and receipt.reject_reason == 0:
        bad.append(("reject_reason", "is required when kilograms are rejected"))
    elif receipt.rejected_kg == 0 and receipt.reject_reason != 0:
        bad.append(("reject_reason", "must be unset when nothing is rejected"))
    if receipt.paid_price_fen is not None and receipt.paid_price_fen < 0:
        bad.append(("paid_price_fen", "must not be negative"))
    if bad:
        raise InvalidArgument([FieldViolation(f, d) for f, d in bad])


def entry(kind: str, row: Shipment, kg: int, amount_fen: int = 0) -> ledger.Entry:
    return ledger.Entry(
        kind=kind,
        run_id=row.run_id,
        subject_id=row.listing_id,
        counterpart_id=row.order_id,
        quantity=kg,
        amount_fen=amount_fen,
    )
