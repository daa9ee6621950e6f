"""Checkout holds: the kilograms QuickSource proposes, held for a few minutes, then confirmed
into an order and shipments, released, or expired.

A HELD hold's kilograms are in its listings' reserved_kg, so every reader of open supply
(produce runs, QuickSource itself) sees them as taken and every commit's shortfall check and
the CHECK reserved_kg <= quantity_kg count them. Confirming moves them from the hold to
shipments (reserved stays; the order fills); releasing or expiring gives them back.

Expiry is stored, not timed: a hold whose expire_time has passed is swept (its kilograms
returned, its state EXPIRED) by whichever comes first of a sweep (`sweep`, called before open
supply is read, before a hold is made or a produce run committed, and before holds are
read) and a confirmation or release that finds it expired. No thread has to survive for it.

Locks, in the order every transaction takes them: the hold(s) in id order, then listings in
id order, then the order (registry/runs/commit.py lock_rows) — the order a commit and a
shipment's cancellation take listings and orders in — so holds, confirmations, releases,
sweeps, commits and cancellations serialize on what they share and cannot deadlock; the state
is checked under the hold's lock, so a hold is confirmed, released or expired once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from registry.access.policy import INTERNAL, Principal, Role
from registry.errors import Aborted, AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from registry.ledger import chain as ledger
from registry.resources import models
from registry.resources.store import RegistryStore, new_id, remember, replayed
from registry.runs.commit import add_amounts, lock_rows, locked_shortfalls
from registry.runs.data import HeldKg, HoldRecord, HoldTerms, RunState
from registry.season.models import CONFIRMED, EXPIRED, HELD, RELEASED, Hold, HoldItem
from registry.season.shipments import open_shipments

PRODUCE_KIND = 1  # fupin.matcher.v1.RunKind.PRODUCE (registry/runs/produce.py)
DEFAULT_MINUTES, MAX_MINUTES = 10, 30
MAX_ITEMS = 100  # QuickSource's MAX_RESULTS
SWEEP_BATCH = 500
MAX_LISTED = 1000
STATE_NAMES = {HELD: "HOLD_HELD", CONFIRMED: "HOLD_CONFIRMED"}
STATE_NAMES |= {RELEASED: "HOLD_RELEASED", EXPIRED: "HOLD_EXPIRED"}
# What confirming or releasing does to a locked HELD hold, in its transaction: its ledger
# entries, appended after the rows are written.
Change = Callable[[Session, Hold, list[HoldItem], dt.datetime], list[ledger.Entry]]


def hold_listings(
    store: RegistryStore,
    *,
    items: Sequence[HeldKg],
    terms: HoldTerms,
    minutes: int,
    reader: Principal,
    request_id: str,
    fingerprint: str,
    now: dt.datetime | None = None,
) -> HoldRecord:
    """Hold up to each item's kilograms (what is still free of each listing, in the order
    given) for `minutes` (0: DEFAULT_MINUTES); idempotent by request_id. ABORTED when none of
    the listings has a kilogram left."""
    now = now or models.utcnow()
    minutes = minutes or DEFAULT_MINUTES
    _check_new(items, terms, minutes)
    sweep(store, now=now)
    try:
        with store.transaction(write=True) as session:
            if request_id:
                earlier = replayed(session, request_id, fingerprint)
                if earlier is not None:
                    return record(session, _get(session, earlier[0], INTERNAL))
            buyer_id = _buyer(session, terms.order_id, reader)
            held = _take(session, items)
            if not held:
                names = ", ".join(sorted({i.listing_id for i in items}))
                raise Aborted(f"no kilogram is left to hold in listings {names}; source again")
            hold = Hold(
                id=new_id("hld"),
                buyer_id=buyer_id,
                order_id=terms.order_id,
                product=terms.product,
                accepted_grades=list(terms.accepted_grades),
                price_fen=terms.price_fen,
                deliver_by=terms.deliver_by,
                kg=sum(held.values()),
                state=HELD,
                expire_time=now + dt.timedelta(minutes=minutes),
                create_time=now,
            )
            session.add(hold)
            session.flush()
            rows = [{"hold_id": hold.id, "listing_id": k, "kg": v} for k, v in held.items()]
            session.execute(insert(HoldItem), rows)
            if request_id:
                remember(session, request_id, "HoldListings", fingerprint, [hold.id])
            return record(session, hold)
    except IntegrityError as exc:  # one request_id on two holds at once
        raise AlreadyExists("request_id is in use by another request", field="request_id") from exc


def _take(session: Session, items: Sequence[HeldKg]) -> dict[str, int]:
    """Lock the listings (id order) and reserve what is free of each item, in the order given."""
    free = {
        rid: quantity - reserved
        for rid, (quantity, reserved) in lock_rows(
            session, models.Listing, ("quantity_kg", "reserved_kg"), [i.listing_id for i in items]
        ).items()
    }
    held: dict[str, int] = {}
    for item in items:
        take = min(item.kg, free.get(item.listing_id, 0))
        if take > 0:
            held[item.listing_id] = held.get(item.listing_id, 0) + take
            free[item.listing_id] -= take
    add_amounts(session, models.Listing, "reserved_kg", held)
    return held


def confirm(
    store: RegistryStore,
    hold_id: str,
    *,
    reader: Principal,
    request_id: str,
    fingerprint: str,
    now: dt.datetime | None = None,
) -> HoldRecord:
    """HELD -> CONFIRMED: a committed checkout run with one shipment per listing, filling the
    hold's order (or a new one); ABORTED when the named order has no room left."""

    def change(
        session: Session, hold: Hold, items: list[HoldItem], now: dt.datetime
    ) -> list[ledger.Entry]:
        lock_rows(session, models.Listing, ("reserved_kg",), [i.listing_id for i in items])
        order_id = hold.order_id or _new_order(session, hold)
        if hold.order_id:
            short = locked_shortfalls(
                session, models.Order, "max_quantity_kg", "filled_kg", {order_id: hold.kg}, "order"
            )
            if short:
                raise Aborted(f"order {order_id} has no room for the hold's {hold.kg} kg", short)
            add_amounts(session, models.Order, "filled_kg", {order_id: hold.kg})
        run = _checkout_run(session, hold, order_id, items)
        hold.state, hold.run_id, hold.order_id, hold.end_time = CONFIRMED, run.id, order_id, now
        return [ledger.Entry("produce_commit", run.id, i.listing_id, order_id, i.kg) for i in items]

    return _end(store, hold_id, "ConfirmHold", change, reader, request_id, fingerprint, now)


def release(
    store: RegistryStore,
    hold_id: str,
    *,
    reader: Principal,
    request_id: str,
    fingerprint: str,
    now: dt.datetime | None = None,
) -> HoldRecord:
    """HELD -> RELEASED: the kilograms return to their listings."""

    def change(
        session: Session, hold: Hold, items: list[HoldItem], now: dt.datetime
    ) -> list[ledger.Entry]:
        _give_back(session, [hold], items, RELEASED, now)
        return []

    return _end(store, hold_id, "ReleaseHold", change, reader, request_id, fingerprint, now)


def _end(
    store: RegistryStore,
    hold_id: str,
    method: str,
    change: Change,
    reader: Principal,
    request_id: str,
    fingerprint: str,
    now: dt.datetime | None,
) -> HoldRecord:
    """Lock the hold, replay a seen request_id, expire it if its time has passed (and say
    so), else apply `change` to a HELD hold."""
    now = now or models.utcnow()
    expired = None
    try:
        with store.transaction(write=True) as session:
            hold = _get(session, hold_id, reader, lock=True)
            if request_id and replayed(session, request_id, fingerprint) is not None:
                return record(session, hold)
            items = _items(session, [hold.id])
            if hold.state == HELD and _aware(hold.expire_time) <= now:
                _give_back(session, [hold], items, EXPIRED, now)
                expired = record(session, hold)
            elif hold.state != HELD:
                raise FailedPrecondition(
                    f"hold {hold.id} is {STATE_NAMES[hold.state]}: only a HOLD_HELD hold can "
                    "be confirmed or released"
                )
            else:
                entries = change(session, hold, items, now)
                if request_id:
                    remember(session, request_id, method, fingerprint, [hold.id])
                session.flush()  # rows before the ledger's lock (shipments.py step says why)
                ledger.append(session, entries)
                return record(session, hold)
    except IntegrityError as exc:
        raise AlreadyExists("request_id is in use by another request", field="request_id") from exc
    # The expiry above is kept (its transaction committed); the call itself is refused.
    raise FailedPrecondition(
        f"hold {expired.id} expired at {expired.expire_time.isoformat()}: its kilograms were "
        "returned; source again"
    )


def sweep(store: RegistryStore, *, now: dt.datetime | None = None) -> int:
    """Expire the holds whose time has passed, returning their kilograms; how many. One
    indexed read when there are none (the usual case)."""
    now = now or models.utcnow()
    due = select(col(Hold.id)).where(col(Hold.state) == HELD, col(Hold.expire_time) <= now)
    with store.statement() as session:
        ids = list(session.scalars(due.order_by(col(Hold.id)).limit(SWEEP_BATCH)))
    if not ids:
        return 0
    with store.transaction(write=True) as session:
        stmt = (
            select(Hold)
            .where(col(Hold.id).in_(ids), col(Hold.state) == HELD)
            .order_by(col(Hold.id))
            .with_for_update(skip_locked=True)  # one being confirmed or released: its own call
        )
        holds = [h for h in session.scalars(stmt) if _aware(h.expire_time) <= now]
        _give_back(session, holds, _items(session, [h.id for h in holds]), EXPIRED, now)
    return len(holds)


def _give_back(
    session: Session, holds: list[Hold], items: list[HoldItem], state: int, now: dt.datetime
) -> None:
    """Return the held kilograms to their listings (locked in id order) and end the holds."""
    back: dict[str, int] = {}
    for item in items:
        back[item.listing_id] = back.get(item.listing_id, 0) - item.kg
    lock_rows(session, models.Listing, ("reserved_kg",), list(back))
    add_amounts(session, models.Listing, "reserved_kg", back)
    for hold in holds:
        hold.state, hold.end_time = state, now
    session.flush()


def _new_order(session: Session, hold: Hold) -> str:
    now = models.utcnow()
    order = models.Order(
        id=new_id("ord"),
        buyer_id=hold.buyer_id,
        product=hold.product,
        accepted_grades=list(hold.accepted_grades),
        min_quantity_kg=0,
        max_quantity_kg=hold.kg,
        filled_kg=hold.kg,
        price_fen=hold.price_fen,
        deliver_by=hold.deliver_by,
        create_time=now,
        update_time=now,
    )
    session.add(order)
    session.flush()
    return order.id


def _checkout_run(
    session: Session, hold: Hold, order_id: str, items: list[HoldItem]
) -> models.MatchRun:
    """The confirmed hold as a COMMITTED produce run of the buyer (its scope), with its
    allocations and one shipment each (registry/season/shipments.py open_shipments)."""
    now = models.utcnow()
    run = models.MatchRun(
        id=new_id("run"),
        kind=PRODUCE_KIND,
        state=RunState.COMMITTED,
        parameters=b"",
        owner=f"hold {hold.id}"[:60],
        scope=hold.buyer_id,
        create_time=now,
        update_time=now,
    )
    session.add(run)
    session.flush()
    allocations = [
        models.RunAllocation(run_id=run.id, listing_id=i.listing_id, order_id=order_id, kg=i.kg)
        for i in items
    ]
    session.add_all(allocations)
    session.flush()
    open_shipments(session, run.id, allocations)
    return run


def get_hold(
    store: RegistryStore, hold_id: str, reader: Principal, *, now: dt.datetime | None = None
) -> HoldRecord:
    sweep(store, now=now)
    with store.transaction() as session:
        return record(session, _get(session, hold_id, reader))


def list_holds(
    store: RegistryStore, *, reader: Principal, state: int = 0, now: dt.datetime | None = None
) -> list[HoldRecord]:
    """The caller's holds, newest first (at most MAX_LISTED)."""
    sweep(store, now=now)
    stmt = select(Hold).order_by(col(Hold.create_time).desc(), col(Hold.id)).limit(MAX_LISTED)
    mine = _mine(reader)
    if mine is not None:
        stmt = stmt.where(mine)
    if state:
        stmt = stmt.where(col(Hold.state) == state)
    with store.transaction() as session:
        holds = list(session.scalars(stmt))
        items = _items(session, [h.id for h in holds])
        return [record(session, h, [i for i in items if i.hold_id == h.id]) for h in holds]


def record(session: Session, hold: Hold, items: list[HoldItem] | None = None) -> HoldRecord:
    items = _items(session, [hold.id]) if items is None else items
    return HoldRecord(
        id=hold.id,
        buyer_id=hold.buyer_id,
        state=hold.state,
        kg=hold.kg,
        items=tuple(HeldKg(i.listing_id, i.kg) for i in sorted(items, key=lambda i: i.listing_id)),
        expire_time=_aware(hold.expire_time),
        create_time=_aware(hold.create_time),
        order_id=hold.order_id,
        run_id=hold.run_id or "",
    )


def _items(session: Session, hold_ids: list[str]) -> list[HoldItem]:
    if not hold_ids:
        return []
    stmt = select(HoldItem).where(col(HoldItem.hold_id).in_(hold_ids))
    return list(session.scalars(stmt.order_by(col(HoldItem.listing_id))))


def _mine(reader: Principal) -> Any:
    """Only the platform that made a hold sees it (an admin sees all; others none)."""
    if reader.role is Role.ADMIN:
        return None
    if reader.role is Role.PLATFORM:
        return col(Hold.buyer_id) == reader.scope
    return col(Hold.id).is_(None)


def _get(session: Session, hold_id: str, reader: Principal, *, lock: bool = False) -> Hold:
    stmt = select(Hold).where(col(Hold.id) == hold_id)
    mine = _mine(reader)
    if mine is not None:
        stmt = stmt.where(mine)
    hold = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if hold is None:
        raise NotFound(f"hold {hold_id} not found", field="id")
    return hold


def _buyer(session: Session, order_id: str, reader: Principal) -> str:
    """Whose hold: the platform's buyer, or the named order's (which must be that buyer's)."""
    if order_id:
        stmt = select(col(models.Order.buyer_id)).where(col(models.Order.id) == order_id)
        buyer = session.scalar(stmt)
        if buyer is None or (reader.role is not Role.ADMIN and buyer != reader.scope):
            raise NotFound(f"order {order_id} not found", field="hold.order_id")
        return str(buyer)
    if reader.role is Role.PLATFORM and reader.scope:
        return reader.scope
    raise InvalidArgument.one("hold.order_id", "is required of a key without a buyer")


def _check_new(items: Sequence[HeldKg], terms: HoldTerms, minutes: int) -> None:
    if not 1 <= minutes <= MAX_MINUTES:
        raise InvalidArgument.one("hold.minutes", f"must be between 1 and {MAX_MINUTES}")
    if not items or len(items) > MAX_ITEMS or any(i.kg <= 0 for i in items):
        raise InvalidArgument.one(
            "hold", f"holds 1-{MAX_ITEMS} listings' suggested kilograms, each positive"
        )
    if terms.price_fen < 0:
        raise InvalidArgument.one("order.price_fen", "must not be negative")


def _aware(stamp: dt.datetime) -> dt.datetime:
    """SQLite gives back naive UTC datetimes."""
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
