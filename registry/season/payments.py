"""Money after the receipt: buyers' payments for shipments, cooperatives' dividends to their
member households, and a producer's account of both.

A payment is a shipment step (registry/season/shipments.py step): under the shipment's lock,
the total paid never passes what the receipt is worth (the CHECK paid_fen <= received_kg x
paid_price_fen stands behind it). A payout of dividends locks the cooperative's producer row,
so two payouts of one cooperative serialize and never pay out together more than it was paid.
A payout is split by the members' shares, or by the kilograms each delivered into the
cooperative's listings (registry/season/deliveries.py), exactly (largest remainder, in fen).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from registry.access import scopes
from registry.access.policy import INTERNAL, Principal
from registry.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from registry.ledger import chain as ledger
from registry.resources import models
from registry.resources.kinds import PRODUCER
from registry.resources.store import RegistryStore, new_ids, remember, replayed
from registry.season import deliveries, entries, shipments
from registry.season.income import DIVIDENDS, Incomes, add_incomes
from registry.season.models import CANCELLED, RECEIVED, Dividend, Payment, Shipment

COOPERATIVE = 2  # fupin.registry.v1.ProducerKind.PRODUCER_COOPERATIVE
DIVIDEND_ENTRY = entries.DIVIDEND
MAX_REFERENCE = 100


# fupin.registry.v1.DividendRule: by the members' shares (the default), or by the kilograms
# each delivered into the cooperative's listings (registry/season/deliveries.py).
BY_SHARES, PER_DELIVERED_KG = 1, 2


@dataclass(frozen=True)
class Payout:
    """One member's part of a payout."""

    dividend_id: str
    household_id: str
    share_permille: int
    amount_fen: int
    delivered_kg: int = 0  # its weight in a payout PER_DELIVERED_KG


@dataclass(frozen=True)
class Account:
    producer_id: str
    shipped_kg: int
    received_kg: int
    rejected_kg: int
    owed_fen: int
    paid_fen: int
    dividends_fen: int


@dataclass(frozen=True)
class PaymentRequest:
    """One payment as asked for (RecordPaymentRequest): checked by `paying`."""

    amount_fen: int
    paid_on: str
    reference: str


def record_payment(
    store: RegistryStore,
    shipment_id: str,
    *,
    amount_fen: int,
    paid_on: str,
    reference: str,
    reader: Principal,
    request_id: str,
    fingerprint: str,
) -> Shipment:
    """A buyer's payment for a RECEIVED shipment, at most what is still owed."""
    incomes = Incomes(store)
    change = paying(PaymentRequest(amount_fen, paid_on, reference), incomes)
    method, finish = "RecordPayment", incomes.add
    return shipments.step(
        store, shipment_id, method, change, reader, request_id, fingerprint, finish=finish
    )


def paying(payment: PaymentRequest, incomes: Incomes) -> shipments.Change:
    """The change of a payment, checked (InvalidArgument naming the field); a household
    grower's income is left to `incomes`, added once for a whole batch."""
    amount_fen, paid_on = payment.amount_fen, payment.paid_on
    bad = _money_checks(amount_fen, payment.reference)
    if not _is_date(paid_on):
        bad.append(FieldViolation("paid_on", "must be a date, YYYY-MM-DD"))
    if bad:
        raise InvalidArgument(bad)

    def change(session: Session, row: Shipment) -> list[ledger.Entry]:
        shipments.expect(row, RECEIVED, "paid for")
        left = row.received_kg * row.paid_price_fen - row.paid_fen
        if amount_fen > left:
            raise InvalidArgument.one("amount_fen", f"is above what is still owed: {left} fen")
        row.paid_fen += amount_fen
        incomes.owe(row.producer_id, int(paid_on[:4]), amount_fen)
        payment_row = Payment(
            id=new_ids("pay", 1)[0],
            shipment_id=row.id,
            producer_id=row.producer_id,
            amount_fen=amount_fen,
            paid_on=paid_on,
            reference=payment.reference,
            create_time=models.utcnow(),
        )
        session.add(payment_row)
        return [shipments.entry(shipments.PAYMENT_ENTRY, row, 0, amount_fen)]

    return change


def pay_dividends(
    store: RegistryStore,
    producer_id: str,
    *,
    amount_fen: int,
    reference: str,
    paid_on: str = "",
    rule: int = BY_SHARES,
    reader: Principal,
    request_id: str,
    fingerprint: str,
) -> tuple[str, list[Payout]]:
    """Split amount_fen among the cooperative's members by share, or by delivered kilogram
    (`rule`); (batch id, payouts)."""
    bad = _money_checks(amount_fen, reference)
    if rule not in (0, BY_SHARES, PER_DELIVERED_KG):
        bad.append(FieldViolation("rule", "is not a DividendRule"))
    if paid_on and not _is_date(paid_on):
        bad.append(FieldViolation("paid_on", "must be a date, YYYY-MM-DD, or empty (today)"))
    if bad:
        raise InvalidArgument(bad)
    year = int(paid_on[:4]) if paid_on else models.utcnow().year
    try:
        return _pay(
            store,
            producer_id,
            amount_fen,
            reference,
            year,
            rule or BY_SHARES,
            reader,
            request_id,
            fingerprint,
        )
    except IntegrityError as exc:  # one request_id on two cooperatives at once
        message = "request_id is in use by another request"
        raise AlreadyExists(message, field="request_id") from exc


def _pay(
    store: RegistryStore,
    producer_id: str,
    amount_fen: int,
    reference: str,
    year: int,
    rule: int,
    reader: Principal,
    request_id: str,
    fingerprint: str,
) -> tuple[str, list[Payout]]:
    with store.transaction(write=True) as session:
        producer = _locked_producer(session, producer_id, reader)
        members = _members(session, producer)
        kg = deliveries.delivered_by_member(session, producer_id)
        if request_id:
            earlier = replayed(session, request_id, fingerprint)
            if earlier is not None:
                return earlier[0], _batch(session, earlier[0], members, kg)
        available = _paid(session, producer_id) - _paid_out(session, producer_id)
        if amount_fen > available:
            raise InvalidArgument.one(
                "amount_fen",
                f"is above what the cooperative was paid and has not paid out: {available} fen",
            )
        batch = new_ids("dvb", 1)[0]
        weights = members if rule == BY_SHARES else {hh: kg[hh] for hh in kg if hh in members}
        if not weights:
            raise FailedPrecondition(
                f"cooperative {producer_id} has no member deliveries on file to pay by"
            )
        parts = split_by_shares(amount_fen, weights)
        ids = new_ids("div", len(parts))
        now = models.utcnow()
        payouts = [
            Payout(did, hh, members[hh], fen, kg.get(hh, 0))
            for did, (hh, fen) in zip(ids, parts.items(), strict=True)
        ]
        session.execute(
            insert(Dividend),
            [
                {
                    "id": p.dividend_id,
                    "batch_id": batch,
                    "producer_id": producer_id,
                    "household_id": p.household_id,
                    "amount_fen": p.amount_fen,
                    "reference": reference,
                    "year": year,
                    "create_time": now,
                }
                for p in payouts
            ],
        )
        amounts = {p.household_id: p.amount_fen for p in payouts}
        add_incomes(session, amounts, year, DIVIDENDS, store.scoring)
        if request_id:
            remember(session, request_id, "PayDividends", fingerprint, [batch])
        session.flush()  # rows first, then the ledger's lock (shipments.step says why)
        ledger.append(
            session,
            [
                ledger.Entry(
                    kind=DIVIDEND_ENTRY,
                    subject_id=p.household_id,
                    counterpart_id=producer_id,
                    amount_fen=p.amount_fen,
                )
                for p in payouts
            ],
        )
        return batch, payouts


def split_by_shares(amount_fen: int, shares: dict[str, int]) -> dict[str, int]:
    """amount_fen in parts proportional to the shares, adding up to it exactly (largest
    remainder; ties to the larger share, then the smaller id); members left with 0 are left
    out."""
    total = sum(shares.values())
    base = {hh: amount_fen * s // total for hh, s in shares.items()}
    left = amount_fen - sum(base.values())
    order = sorted(shares, key=lambda hh: (-(amount_fen * shares[hh] % total), -shares[hh], hh))
    for hh in order[:left]:
        base[hh] += 1
    return {hh: fen for hh, fen in sorted(base.items()) if fen > 0}


def producer_account(
    store: RegistryStore, producer_id: str, reader: Principal = INTERNAL
) -> Account:
    with store.transaction() as session:
        stmt = select(col(models.Producer.id)).where(col(models.Producer.id) == producer_id)
        condition = scopes.clause(PRODUCER, reader)
        if condition is not None:
            stmt = stmt.where(condition)
        if session.scalar(stmt) is None:
            raise NotFound(f"producer {producer_id} not found", field="producer_id")
        s = Shipment
        kg, received, rejected, owed, paid = session.execute(
            select(
                func.coalesce(func.sum(s.kg), 0),
                func.coalesce(func.sum(s.received_kg), 0),
                func.coalesce(func.sum(s.rejected_kg), 0),
                func.coalesce(func.sum(s.received_kg * s.paid_price_fen), 0),
                func.coalesce(func.sum(s.paid_fen), 0),
            ).where(col(s.producer_id) == producer_id, col(s.state) != CANCELLED)
        ).one()
        dividends = _paid_out(session, producer_id)
    # PostgreSQL sums bigints as numeric (Decimal).
    return Account(
        producer_id, int(kg), int(received), int(rejected), int(owed), int(paid), dividends
    )


def _locked_producer(session: Session, producer_id: str, reader: Principal) -> models.Producer:
    stmt = select(models.Producer).where(col(models.Producer.id) == producer_id)
    condition = scopes.clause(PRODUCER, reader, write=True)
    if condition is not None:
        stmt = stmt.where(condition)
    producer = session.scalars(stmt.with_for_update()).first()
    if producer is None:
        raise NotFound(f"producer {producer_id} not found", field="producer_id")
    return producer


def _members(session: Session, producer: models.Producer) -> dict[str, int]:
    if producer.kind != COOPERATIVE:
        raise FailedPrecondition(f"producer {producer.id} is not a cooperative")
    rows = session.execute(
        select(
            col(models.ProducerMember.household_id), col(models.ProducerMember.share_permille)
        ).where(col(models.ProducerMember.producer_id) == producer.id)
    )
    members = {hh: share for hh, share in rows}
    if not members:
        raise FailedPrecondition(f"cooperative {producer.id} has no member households on file")
    return members


def _batch(
    session: Session, batch_id: str, members: dict[str, int], kg: dict[str, int]
) -> list[Payout]:
    rows = session.scalars(
        select(Dividend).where(col(Dividend.batch_id) == batch_id).order_by(col(Dividend.id))
    )
    return [
        Payout(
            r.id,
            r.household_id,
            members.get(r.household_id, 0),
            r.amount_fen,
            kg.get(r.household_id, 0),
        )
        for r in rows
    ]


def _paid(session: Session, producer_id: str) -> int:
    stmt = select(func.coalesce(func.sum(Payment.amount_fen), 0)).where(
        col(Payment.producer_id) == producer_id
    )
    return int(session.scalar(stmt) or 0)


def _paid_out(session: Session, producer_id: str) -> int:
    stmt = select(func.coalesce(func.sum(Dividend.amount_fen), 0)).where(
        col(Dividend.producer_id) == producer_id
    )
    return int(session.scalar(stmt) or 0)


def _money_checks(amount_fen: int, reference: str) -> list[FieldViolation]:
    bad = []
    if amount_fen <= 0:
        bad.append(FieldViolation("amount_fen", "must be positive"))
    if len(reference) > MAX_REFERENCE:
        bad.append(FieldViolation("reference", f"must be at most {MAX_REFERENCE} characters"))
    return bad


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10
