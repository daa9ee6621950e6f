"""Aid after the commit: a committed grant disbursed (channel, reference), then signed for
(签收) by the household or its village, or clawed back with a reason; and the delivery report
(committed / disbursed / received per programme, village and county; overdue grants).

Each step is one transaction that locks the grant's row (run_grant; then its disbursement) and
checks the state under the lock, so a grant is never disbursed, signed for or clawed back twice;
each writes a ledger entry and is idempotent by request_id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from registry.access import scopes
from registry.access.policy import INTERNAL, Principal
from registry.errors import FailedPrecondition, InvalidArgument, NotFound
from registry.ledger import chain as ledger
from registry.ledger.reports import region_of
from registry.resources import models
from registry.resources.store import RegistryStore, remember, replayed
from registry.runs.data import RunState
from registry.season import entries
from registry.season.models import AID_RECEIVED, CLAWED_BACK, DISBURSED, GrantDisbursement

STATE_NAMES = {DISBURSED: "GRANT_DISBURSED", AID_RECEIVED: "GRANT_RECEIVED"}
STATE_NAMES[CLAWED_BACK] = "GRANT_CLAWED_BACK"
DISBURSE_ENTRY, RECEIPT_ENTRY = entries.AID_DISBURSEMENT, entries.AID_RECEIPT
CLAWBACK_ENTRY = entries.AID_CLAWBACK
CHANNELS, SIGNERS = (1, 2, 3), (1, 2)


@dataclass(frozen=True)
class GrantKey:
    run_id: str
    household_id: str
    programme_id: str

    def text(self) -> str:
        return f"{self.run_id}/{self.household_id}/{self.programme_id}"


@dataclass
class Total:
    grants: int = 0
    committed_fen: int = 0
    disbursed_fen: int = 0
    received_fen: int = 0
    clawed_back_fen: int = 0


@dataclass(frozen=True)
class Overdue:
    key: GrantKey
    amount_fen: int
    commit_time: datetime
    days: int


@dataclass
class Delivery:
    programmes: dict[str, Total] = field(default_factory=lambda: defaultdict(Total))
    villages: dict[str, Total] = field(default_factory=lambda: defaultdict(Total))
    counties: dict[str, Total] = field(default_factory=lambda: defaultdict(Total))
    overdue: list[Overdue] = field(default_factory=list)


Change = Callable[[Session, GrantDisbursement | None, int], GrantDisbursement]


def disburse(
    store: RegistryStore, key: GrantKey, *, channel: int, reference: str, **step: Any
) -> GrantDisbursement:
    """A committed grant leaves the programme through a channel."""
    if channel not in CHANNELS:
        raise InvalidArgument.one("channel", "must be BANK_CARD, CASH or IN_KIND")
    if len(reference) > 100:
        raise InvalidArgument.one("reference", "must be at most 100 characters")

    def change(session: Session, row: GrantDisbursement | None, amount: int) -> GrantDisbursement:
        if row is not None:
            raise FailedPrecondition(f"grant {key.text()} is {STATE_NAMES[row.state]} already")
        row = GrantDisbursement(
            run_id=key.run_id,
            household_id=key.household_id,
            programme_id=key.programme_id,
            amount_fen=amount,
            state=DISBURSED,
            channel=channel,
            reference=reference,
            disburse_time=models.utcnow(),
        )
        session.add(row)
        return row

    return _step(store, key, "DisburseGrant", DISBURSE_ENTRY, change, **step)


def sign_for(
    store: RegistryStore, key: GrantKey, *, signed_by: int, **step: Any
) -> GrantDisbursement:
    """The household (or its village) signed for a disbursed grant."""
    if signed_by not in SIGNERS:
        raise InvalidArgument.one("signed_by", "must be SIGNED_BY_HOUSEHOLD or SIGNED_BY_VILLAGE")

    def change(session: Session, row: GrantDisbursement | None, amount: int) -> GrantDisbursement:
        row = _expect(key, row, (DISBURSED,), "signed for")
        row.state, row.signed_by, row.receive_time = AID_RECEIVED, signed_by, models.utcnow()
        return row

    return _step(store, key, "SignForGrant", RECEIPT_ENTRY, change, **step)


def claw_back(
    store: RegistryStore, key: GrantKey, *, reason: str, **step: Any
) -> GrantDisbursement:
    """A disbursed (or received) grant was returned or clawed back."""
    if not reason.strip() or len(reason) > 200:
        raise InvalidArgument.one("reason", "must say why, in 1-200 characters")

    def change(session: Session, row: GrantDisbursement | None, amount: int) -> GrantDisbursement:
        row = _expect(key, row, (DISBURSED, AID_RECEIVED), "clawed back")
        row.state, row.clawback_reason, row.clawback_time = CLAWED_BACK, reason, models.utcnow()
        return row

    return _step(store, key, "ClawBackGrant", CLAWBACK_ENTRY, change, **step)


def _step(
    store: RegistryStore,
    key: GrantKey,
    method: str,
    kind: str,
    change: Change,
    *,
    reader: Principal,
    request_id: str,
    fingerprint: str,
) -> GrantDisbursement:
    with store.transaction(write=True) as session:
        amount = _locked_grant(session, key, reader)
        row = session.scalars(
            select(GrantDisbursement)
            .where(
                col(GrantDisbursement.run_id) == key.run_id,
                col(GrantDisbursement.household_id) == key.household_id,
                col(GrantDisbursement.programme_id) == key.programme_id,
            )
            .with_for_update()
        ).first()
        if request_id and replayed(session, request_id, fingerprint) is not None:
            if row is None:
                raise NotFound(f"grant {key.text()} was never disbursed", field="grant")
            return row
        row = change(session, row, amount)
        session.flush()  # rows first, then the ledger's lock (registry/season/shipments.py)
        entry = ledger.Entry(
            kind=kind,
            run_id=key.run_id,
            subject_id=key.household_id,
            counterpart_id=key.programme_id,
            amount_fen=amount,
        )
        ledger.append(session, [entry])
        if request_id:
            remember(session, request_id, method, fingerprint, [key.text()])
        return row


def _locked_grant(session: Session, key: GrantKey, reader: Principal) -> int:
    """Lock the grant of a committed run in the reader's region; its amount."""
    grant, run = models.RunGrant, models.MatchRun
    stmt = (
        select(col(grant.amount_fen))
        .join(run, col(run.id) == col(grant.run_id))
        .where(
            col(grant.run_id) == key.run_id,
            col(grant.household_id) == key.household_id,
            col(grant.programme_id) == key.programme_id,
            col(run.state) == int(RunState.COMMITTED),
        )
    )
    prefix = region_of(reader)
    if prefix is not None:
        stmt = stmt.where(col(grant.household_id).in_(scopes.households_in(prefix)))
    amount = session.scalar(stmt.with_for_update(of=grant))
    if amount is None:
        raise NotFound(f"no committed grant {key.text()}", field="grant")
    return int(amount)


def _expect(
    key: GrantKey, row: GrantDisbursement | None, states: tuple[int, ...], verb: str
) -> GrantDisbursement:
    if row is None:
        raise FailedPrecondition(f"grant {key.text()} is not disbursed yet: it cannot be {verb}")
    if row.state not in states:
        raise FailedPrecondition(f"grant {key.text()} is {STATE_NAMES[row.state]}: not {verb}")
    return row


def delivery(
    store: RegistryStore,
    *,
    region_code: str,
    overdue_days: int,
    reader: Principal = INTERNAL,
    now: datetime | None = None,
) -> Delivery:
    """Every committed grant in the region with what became of it (module doc)."""
    grant, run, d = models.RunGrant, models.MatchRun, GrantDisbursement
    hh, village = models.Household, models.Village
    stmt = (
        select(
            col(grant.run_id),
            col(grant.household_id),
            col(grant.programme_id),
            col(grant.amount_fen),
            col(run.update_time),
            col(village.admin_code),
            col(hh.county_code),
            col(d.state),
        )
        .join(run, col(run.id) == col(grant.run_id))
        .join(hh, col(hh.id) == col(grant.household_id))
        .join(village, col(village.id) == col(hh.village_id))
        .outerjoin(
            d,
            (col(d.run_id) == col(grant.run_id))
            & (col(d.household_id) == col(grant.household_id))
            & (col(d.programme_id) == col(grant.programme_id)),
        )
        .where(col(run.state) == int(RunState.COMMITTED))
    )
    for prefix in (region_of(reader), region_code):
        if prefix:
            stmt = stmt.where(col(village.admin_code).startswith(prefix, autoescape=True))
    now = now or datetime.now(UTC)
    out = Delivery()
    with store.transaction() as session:
        rows = session.execute(stmt).all()
    for run_id, household, programme, amount, committed, code, county, state in rows:
        for total in (out.programmes[programme], out.villages[code], out.counties[county]):
            _count(total, amount, state)
        committed = committed if committed.tzinfo else committed.replace(tzinfo=UTC)
        days = (now - committed).days
        if state is None and days > overdue_days:
            key = GrantKey(run_id, household, programme)
            out.overdue.append(Overdue(key, amount, committed, days))
    out.overdue.sort(key=lambda o: (-o.days, o.key.text()))
    return out


def _count(total: Total, amount: int, state: int | None) -> None:
    total.grants += 1
    total.committed_fen += amount
    if state is not None:
        total.disbursed_fen += amount
    if state == AID_RECEIVED:
        total.received_fen += amount
    if state == CLAWED_BACK:
        total.clawed_back_fen += amount
