"""Money after the receipt: buyers' payments for shipments, the rules of cooperatives'
dividends to their member households, and a producer's account of both.

A payment is a shipment step (registry/season/shipments.py step; a batch of them, steps.py):
under the shipment's lock, the total paid never passes what the receipt is worth (the CHECK
paid_fen <= received_kg x paid_price_fen stands behind it); a household grower's income is
added once at the end of the step or batch (income.Incomes). Payouts are made by
registry/season/dividends.py, split here (split_by_shares): by the members' shares, or by the
kilograms each delivered into the cooperative's listings (registry/season/deliveries.py),
exactly (largest remainder, in fen).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session, col

from registry.access import scopes
from registry.access.policy import INTERNAL, Principal
from registry.errors import (
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from registry.ledger import chain as ledger
from registry.resources import models
from registry.resources.kinds import PRODUCER
from registry.resources.store import RegistryStore, new_ids
from registry.season import entries, shipments
from registry.season.income import Incomes
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
        store,
        shipment_id,
        method,
        change,
        reader,
        request_id,
        fingerprint,
        id_field="shipment_id",
        finish=finish,
    )


def paying(payment: PaymentRequest, incomes: Incomes) -> shipments.Change:
    """The change of a payment, checked (InvalidArgument naming the field); a household
    grower's income is left to `incomes`, added once for a whole batch."""
    amount_fen, paid_on = payment.amount_fen, payment.paid_on
    bad = money_checks(amount_fen, payment.reference)
    if not is_date(paid_on):
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
        dividends = paid_out(session, producer_id)
    # PostgreSQL sums bigints as numeric (Decimal).
    return Account(
        producer_id, int(kg), int(received), int(rejected), int(owed), int(paid), dividends
    )


def paid_in(session: Session, producer_id: str) -> int:
    stmt = select(func.coalesce(func.sum(Payment.amount_fen), 0)).where(
        col(Payment.producer_id) == producer_id
    )
    return int(session.scalar(stmt) or 0)


def paid_out(session: Session, producer_id: str) -> int:
    stmt = select(func.coalesce(func.sum(Dividend.amount_fen), 0)).where(
        col(Dividend.producer_id) == producer_id
    )
    return int(session.scalar(stmt) or 0)


def money_checks(amount_fen: int, reference: str) -> list[FieldViolation]:
    bad = []
    if amount_fen <= 0:
        bad.append(FieldViolation("amount_fen", "must be positive"))
    if len(reference) > MAX_REFERENCE:
        bad.append(FieldViolation("reference", f"must be at most {MAX_REFERENCE} characters"))
    return bad


def is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10
