"""Income back to the file card: each household's income record per year, fed by payments for
its produce (a household grower's), dividends and aid signed for; each addition re-scores the
household (the scoring reads the record when its config says so: registry/resources/scoring.py
income_from_record) and a changed status gets a history entry naming why, e.g.
"income 2020: produce sales ¥8,420".

Called inside the transaction of the step that brought the money, before its ledger append:
the household row is locked (after the step's own rows), so concurrent additions to one
household serialize.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from registry import db
from registry.resources import models
from registry.resources.hooks import assess, record_per_capita, was_lifted_out
from registry.resources.scoring import ScoringConfig, Status
from registry.resources.store import RegistryStore
from registry.season.models import HouseholdIncome

PRODUCE, DIVIDENDS, AID = "produce_fen", "dividends_fen", "aid_fen"
LABELS = {PRODUCE: "produce sales", DIVIDENDS: "dividends", AID: "aid received"}


def add_income(
    session: Session,
    household_id: str,
    year: int,
    source: str,
    amount_fen: int,
    config: ScoringConfig,
) -> None:
    """Add amount_fen (negative: a clawback) to the household's record of `year` from
    `source` (PRODUCE, DIVIDENDS or AID), then re-score it."""
    add_incomes(session, {household_id: amount_fen}, year, source, config)


def add_incomes(
    session: Session, amounts: dict[str, int], year: int, source: str, config: ScoringConfig
) -> None:
    """add_income for several households (a payout's members) with fewer round trips: their
    rows locked in id order by one statement, their records of `year` read by one, written by
    one flush, then each re-scored. Households that no longer exist are skipped."""
    ids = sorted(amounts)
    hh, income = models.Household, HouseholdIncome
    locked = select(hh).where(col(hh.id).in_(ids)).order_by(col(hh.id)).with_for_update()
    households = {h.id: h for h in session.scalars(locked)}
    stmt = select(income).where(col(income.household_id).in_(ids), col(income.year) == year)
    records = {r.household_id: r for r in session.scalars(stmt)}
    now = models.utcnow()
    for household_id in ids:
        if household_id not in households:
            continue
        record = records.get(household_id)
        if record is None:
            record = HouseholdIncome(household_id=household_id, year=year, update_time=now)
            session.add(record)
        setattr(record, source, getattr(record, source) + amounts[household_id])
        record.update_time = now
    session.flush()
    known = _known(session, sorted(households), config)
    for household_id in ids:
        if household_id in households:
            amount_fen = amounts[household_id]
            sign = "" if amount_fen >= 0 else "-"
            reason = f"{reason_prefix(year)}{LABELS[source]} {sign}¥{abs(amount_fen) / 100:,.0f}"
            rescore(session, households[household_id], config, reason, known.get(household_id))


def _known(session: Session, ids: list[str], config: ScoringConfig) -> dict[str, tuple[int, bool]]:
    """What rescore reads of each household, for many at once (two statements, not two a
    household): its latest year's income record total (0 when the scoring does not read the
    record) and whether it was ever lifted out."""
    latest: dict[str, int] = dict.fromkeys(ids, 0)
    if config.income_from_record:
        income = HouseholdIncome
        stmt = select(income).where(db.one_of(session, col(income.household_id), ids))
        years: dict[str, int] = {}
        for r in session.scalars(stmt):
            if r.year > years.get(r.household_id, 0):
                years[r.household_id], latest[r.household_id] = r.year, r.total_fen
    change = models.StatusChange
    lifted = set(
        session.scalars(
            select(col(change.household_id)).where(
                db.one_of(session, col(change.household_id), ids),
                col(change.new_status) == Status.LIFTED_OUT,
            )
        )
    )
    return {hh: (latest[hh], hh in lifted) for hh in ids}


def reason_prefix(year: int) -> str:
    """How the history entry of a status the year's income changed begins."""
    return f"income {year}: "


def rescore(
    session: Session,
    household: models.Household,
    config: ScoringConfig,
    reason: str,
    known: tuple[int, bool] | None = None,
) -> None:
    """Score the household again with its record; a changed status is kept in its history.
    `known`: its latest record's total and whether it was ever lifted out, read already."""
    values = {
        name: getattr(household, name)
        for name in (
            "housing_safety",
            "food_security",
            "children_schooling",
            "health",
            "disability",
            "income_per_capita_fen",
            "members",
            "labour_force",
        )
    }
    if known is None:
        extra = record_per_capita(session, household.id, household.members, config)
        lifted = household.status == Status.LIFTED_OUT or was_lifted_out(session, household.id)
    else:
        total, lifted = known
        extra = total // household.members if household.members > 0 else 0
    values["income_per_capita_fen"] += extra
    values["extra_indicators"] = household.extra_indicators
    ever_lifted = household.status == Status.LIFTED_OUT or lifted
    new_score, new_status, set_scores = assess(values, config, ever_lifted_out=ever_lifted)
    if new_score == household.score and new_status == household.status:
        return
    household.set_scores = set_scores
    now = models.utcnow()
    if new_status != household.status:
        session.add(
            models.StatusChange(
                household_id=household.id,
                time=now,
                old_status=household.status,
                new_status=new_status,
                score=new_score,
                reason=reason[:200],
            )
        )
    household.previous_score, household.score = household.score, new_score
    household.status, household.update_time = new_status, now
    household.version += 1


class Incomes:
    """Payments' income for household growers, summed per producer and year while a step or
    batch runs, added to the households' records once at its end: their rows locked by one
    statement in id order (after the shipments), so concurrent batches cannot deadlock on
    them, and each household re-scored once."""

    def __init__(self, store: RegistryStore) -> None:
        self.store = store
        self.owed: dict[tuple[str, int], int] = {}

    def owe(self, producer_id: str, year: int, amount_fen: int) -> None:
        key = (producer_id, year)
        self.owed[key] = self.owed.get(key, 0) + amount_fen

    def add(self, session: Session, /) -> None:
        if not self.owed:
            return
        producer = models.Producer
        ids = sorted({p for p, _year in self.owed})
        growers = {
            pid: hh
            for pid, hh in session.execute(
                select(col(producer.id), col(producer.household_id)).where(
                    db.one_of(session, col(producer.id), ids)
                )
            )
            if hh
        }
        by_year: dict[int, dict[str, int]] = {}
        for (pid, year), fen in sorted(self.owed.items()):
            if pid in growers:
                amounts = by_year.setdefault(year, {})
                amounts[growers[pid]] = amounts.get(growers[pid], 0) + fen
        add_by_year(session, by_year, PRODUCE, self.store.scoring)


def add_by_year(
    session: Session, by_year: dict[int, dict[str, int]], source: str, config: ScoringConfig
) -> None:
    """add_incomes of a batch: per year, per household. Every year's households are locked by
    one statement in id order first, so two batches cannot deadlock on them."""
    if len(by_year) > 1:
        households = sorted({hh for amounts in by_year.values() for hh in amounts})
        table = models.Household
        locked = select(col(table.id)).where(db.one_of(session, col(table.id), households))
        session.execute(locked.order_by(col(table.id)).with_for_update())
    for year, amounts in sorted(by_year.items()):
        add_incomes(session, amounts, year, source, config)
