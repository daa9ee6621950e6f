"""A cooperative's payouts to its member households: one (PayDividends) or a batch
(BatchPayDividends) in one transaction.

The cooperatives' producer rows are locked first, by one statement in id order, so two
payouts of one cooperative serialize and never pay out together more than it was paid, and
two batches cannot deadlock on them. Each payout is split by the members' shares, or by the
kilograms each delivered into the cooperative's listings (registry/season/deliveries.py),
exactly (largest remainder, in fen: payments.split_by_shares). The members' incomes are added
once for the batch (their rows locked in id order, income.add_by_year), and the dividends
go to the ledger in one extension of the chain, after every row is written (as
registry/season/steps.py does, for the same reason). A batch's refused item refuses it,
named `requests[i]` (steps.named).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from registry import db
from registry.access import scopes
from registry.access.policy import Principal
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
from registry.resources.store import RegistryStore, new_ids, remember, replay
from registry.season import steps
from registry.season.income import DIVIDENDS, add_by_year
from registry.season.models import Dividend, MemberDelivery, Payment
from registry.season.payments import (
    BY_SHARES,
    COOPERATIVE,
    DIVIDEND_ENTRY,
    PER_DELIVERED_KG,
    Payout,
    is_date,
    money_checks,
    split_by_shares,
)


@dataclass(frozen=True)
class PayoutRequest:
    """One payout as asked for (PayDividendsRequest); request_id in its stored form."""

    producer_id: str
    amount_fen: int
    reference: str = ""
    paid_on: str = ""  # YYYY-MM-DD, the members' income year; empty: today
    rule: int = BY_SHARES
    request_id: str = ""
    fingerprint: str = ""


def checked(payout: PayoutRequest) -> PayoutRequest:
    """The payout with its rule defaulted; InvalidArgument naming what is wrong."""
    bad = money_checks(payout.amount_fen, payout.reference)
    if payout.rule not in (0, BY_SHARES, PER_DELIVERED_KG):
        bad.append(FieldViolation("rule", "is not a DividendRule"))
    if payout.paid_on and not is_date(payout.paid_on):
        bad.append(FieldViolation("paid_on", "must be a date, YYYY-MM-DD, or empty (today)"))
    if bad:
        raise InvalidArgument(bad)
    return payout if payout.rule else replace(payout, rule=BY_SHARES)


def pay(
    store: RegistryStore, payouts: Sequence[PayoutRequest], reader: Principal, *, batch: bool
) -> list[tuple[str, list[Payout]]]:
    """Each payout (checked) split among its cooperative's members; per payout, its batch id
    and its members' parts, in request order. A replayed request_id returns what it paid."""
    try:
        with store.transaction(write=True) as session:
            return _Payouts(session, store, reader, batch).run(payouts)
    except IntegrityError as exc:  # one request_id on two cooperatives at once
        message = "request_id is in use by another request"
        raise AlreadyExists(message, field="request_id") from exc


class _Payouts:
    """One transaction's payouts: what it has read of each cooperative, and what it writes."""

    def __init__(
        self, session: Session, store: RegistryStore, reader: Principal, batch: bool
    ) -> None:
        self.session, self.store, self.reader, self.batch = session, store, reader, batch
        self.members: dict[str, dict[str, int]] = {}
        self.delivered: dict[str, dict[str, int]] = {}
        self.available: dict[str, int] = {}
        self.rows: list[dict[str, object]] = []
        self.entries: list[ledger.Entry] = []
        self.incomes: dict[int, dict[str, int]] = {}

    def run(self, payouts: Sequence[PayoutRequest]) -> list[tuple[str, list[Payout]]]:
        producers = self._locked(payouts)
        self._read(sorted(producers))
        keys = steps.stored_keys(self.session, [p.request_id for p in payouts if p.request_id])
        out = []
        for index, payout in enumerate(payouts):
            with steps.naming(index if self.batch else None):
                members = self._members(producers[payout.producer_id])
                kg = self._delivered(payout.producer_id)
                key = keys.get(payout.request_id)
                if key is not None:
                    earlier = replay(key, payout.fingerprint)[0]
                    out.append((earlier, _stored(self.session, earlier, members, kg)))
                    continue
                out.append(self._pay(payout, members, kg))
        if self.rows:
            self.session.execute(insert(Dividend), self.rows)
        add_by_year(self.session, self.incomes, DIVIDENDS, self.store.scoring)
        self.session.flush()  # rows first, then the ledger's lock (steps.py says why)
        ledger.append(self.session, self.entries)
        return out

    def _pay(
        self, payout: PayoutRequest, members: dict[str, int], kg: dict[str, int]
    ) -> tuple[str, list[Payout]]:
        producer_id, amount_fen = payout.producer_id, payout.amount_fen
        available = self.available.get(producer_id, 0)
        if amount_fen > available:
            raise InvalidArgument.one(
                "amount_fen",
                f"is above what the cooperative was paid and has not paid out: {available} fen",
            )
        weights = members if payout.rule == BY_SHARES else {h: kg[h] for h in kg if h in members}
        if not weights:
            raise FailedPrecondition(
                f"cooperative {producer_id} has no member deliveries on file to pay by"
            )
        self.available[producer_id] = available - amount_fen
        batch_id = new_ids("dvb", 1)[0]
        parts = split_by_shares(amount_fen, weights)
        year = int(payout.paid_on[:4]) if payout.paid_on else models.utcnow().year
        now, incomes = models.utcnow(), self.incomes.setdefault(year, {})
        paid = []
        for did, (hh, fen) in zip(new_ids("div", len(parts)), parts.items(), strict=True):
            paid.append(Payout(did, hh, members[hh], fen, kg.get(hh, 0)))
            self.rows.append(
                {
                    "id": did,
                    "batch_id": batch_id,
                    "producer_id": producer_id,
                    "household_id": hh,
                    "amount_fen": fen,
                    "reference": payout.reference,
                    "year": year,
                    "create_time": now,
                }
            )
            incomes[hh] = incomes.get(hh, 0) + fen
            self.entries.append(
                ledger.Entry(
                    kind=DIVIDEND_ENTRY, subject_id=hh, counterpart_id=producer_id, amount_fen=fen
                )
            )
        if payout.request_id:
            remember(
                self.session, payout.request_id, "PayDividends", payout.fingerprint, [batch_id]
            )
        return batch_id, paid

    def _locked(self, payouts: Sequence[PayoutRequest]) -> dict[str, models.Producer]:
        ids = sorted({p.producer_id for p in payouts})
        table = models.Producer
        stmt = select(table).where(db.one_of(self.session, col(table.id), ids))
        condition = scopes.clause(PRODUCER, self.reader, write=True)
        if condition is not None:
            stmt = stmt.where(condition)
        locked = stmt.order_by(col(table.id)).with_for_update()
        found = {p.id: p for p in self.session.scalars(locked)}
        for index, payout in enumerate(payouts):
            if payout.producer_id not in found:
                with steps.naming(index if self.batch else None):
                    message = f"producer {payout.producer_id} not found"
                    raise NotFound(message, field="producer_id")
        return found

    def _read(self, ids: list[str]) -> None:
        """The cooperatives' members, members' deliveries, and what each was paid and has
        not paid out: one statement each for the whole batch, under the producers' locks."""
        session, member, delivery = self.session, models.ProducerMember, MemberDelivery
        for pid, hh, share in session.execute(
            select(
                col(member.producer_id), col(member.household_id), col(member.share_permille)
            ).where(db.one_of(session, col(member.producer_id), ids))
        ):
            self.members.setdefault(pid, {})[hh] = share
        for pid, hh, kg in session.execute(
            select(col(delivery.producer_id), col(delivery.household_id), func.sum(delivery.kg))
            .where(db.one_of(session, col(delivery.producer_id), ids))
            .group_by(col(delivery.producer_id), col(delivery.household_id))
        ):
            if kg:
                self.delivered.setdefault(pid, {})[hh] = int(kg)
        sums = (
            (Payment.producer_id, Payment.amount_fen, 1),
            (
                Dividend.producer_id,
                Dividend.amount_fen,
                -1,
            ),
        )
        for producer, amount, sign in sums:
            for pid, fen in session.execute(
                select(col(producer), func.sum(amount))
                .where(db.one_of(session, col(producer), ids))
                .group_by(col(producer))
            ):
                self.available[pid] = self.available.get(pid, 0) + sign * int(fen or 0)

    def _members(self, producer: models.Producer) -> dict[str, int]:
        if producer.kind != COOPERATIVE:
            raise FailedPrecondition(f"producer {producer.id} is not a cooperative")
        if not self.members.get(producer.id):
            message = f"cooperative {producer.id} has no member households on file"
            raise FailedPrecondition(message)
        return self.members[producer.id]

    def _delivered(self, producer_id: str) -> dict[str, int]:
        return self.delivered.get(producer_id, {})


def _stored(
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
