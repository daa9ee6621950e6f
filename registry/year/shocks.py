"""Shocks in the database, risks of a region's households, and the alerts they raise.

AlertHub hands alerts to the WatchAlerts streams open in this process: each subscriber has a
queue and a region; publishing puts an alert on the queue of every subscriber whose region
holds the household's village.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session, col

from registry import db
from registry.access.policy import Principal
from registry.errors import NotFound
from registry.resources import models
from registry.resources.bulk import QUERY_CHUNK
from registry.resources.store import RegistryStore, new_id
from registry.season.models import HouseholdIncome
from registry.year import cases, risk
from registry.year.cases import in_region
from registry.year.models import Shock
from registry.year.risk import HouseholdFacts, Risk, ShockFact
from registry.year.rules import RiskRules


@dataclass(frozen=True)
class Ranked:
    facts: HouseholdFacts
    admin_code: str
    risk: Risk


@dataclass(frozen=True)
class Raised:
    """A household whose risk a shock raised to an alert level."""

    ranked: Ranked
    previous: int
    shock_id: str


Wake = Callable[[], None]


class AlertHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, tuple[str, int, queue.Queue[Raised], Wake]] = {}

    def subscribe(
        self, region: str, min_risk: int, wake: Wake = lambda: None
    ) -> tuple[int, queue.Queue[Raised]]:
        """A new inbox; `wake` is called (on the publisher's thread) after each alert put
        there, so that a watcher waiting on an event loop need not poll."""
        inbox: queue.Queue[Raised] = queue.Queue()
        with self._lock:
            token = id(inbox)
            self._subscribers[token] = (region, min_risk, inbox, wake)
        return token, inbox

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._subscribers.pop(token, None)

    def publish(self, raised: Iterable[Raised]) -> None:
        with self._lock:
            subscribers = list(self._subscribers.values())
        for alert in raised:
            for region, min_risk, inbox, wake in subscribers:
                level = alert.ranked.risk.risk
                if (
                    alert.ranked.admin_code.startswith(region)
                    and level >= min_risk > alert.previous
                ):
                    inbox.put(alert)
                    wake()


def record(
    store: RegistryStore, shock: Shock, principal: Principal, rules: RiskRules, today: dt.date
) -> tuple[Shock, list[Raised]]:
    """Store the shock; the households it raised to rules.alert_at or above (risk before and
    after, in the same transaction)."""
    with store.transaction(write=True) as session:
        region = _target_region(session, shock, principal)
        before = {r.facts.id: r.risk.risk for r in _rank(session, store, region, rules, today)}
        shock.id, shock.key_id = new_id("shk"), principal.key_id[:40]
        shock.create_time = models.utcnow()
        session.add(shock)
        session.flush()
        after = _rank(session, store, region, rules, today)
        raised = [
            Raised(r, before.get(r.facts.id, 0), shock.id)
            for r in after
            if r.risk.risk > before.get(r.facts.id, 0)
        ]
        return shock, raised


def ranked(store: RegistryStore, region: str, rules: RiskRules, today: dt.date) -> list[Ranked]:
    with store.transaction() as session:
        rows = _rank(session, store, region, rules, today)
    return sorted(rows, key=lambda r: (-r.risk.risk, r.facts.id))


def watch_rank(
    store: RegistryStore, rules: RiskRules
) -> Callable[[Session, Sequence[Sequence[Any]]], dict[str, Risk]]:
    """RegistryService.ListWatchlist's Rank (registry/resources/watchlist.py): the risk of
    each household row, by these rules, as of today (UTC)."""

    def rank(session: Session, rows: Sequence[Sequence[Any]]) -> dict[str, Risk]:
        line = store.scoring.impoverished_below
        return risks_of(session, rows, line=line, rules=rules, today=cases.today())

    return rank


def _target_region(session: Session, shock: Shock, principal: Principal) -> str:
    """The administrative code the shock covers; NotFound for a target outside the key."""
    if shock.household_id:
        household = session.get(models.Household, shock.household_id)
        village = session.get(models.Village, household.village_id) if household else None
        field = "shock.household_id"
    elif shock.village_id:
        village, field = session.get(models.Village, shock.village_id), "shock.village_id"
    else:
        if not in_region(principal, shock.county_code):
            raise NotFound(f"county {shock.county_code!r} not found", field="shock.county_code")
        return shock.county_code
    if village is None or not in_region(principal, village.admin_code):
        raise NotFound(f"{field.split('.')[1]} not found", field=field)
    return village.admin_code


def _rank(
    session: Session, store: RegistryStore, region: str, rules: RiskRules, today: dt.date
) -> list[Ranked]:
    table = models.Household
    stmt = (
        select(*_FACT_COLUMNS, col(models.Village.admin_code))
        .join(models.Village, col(models.Village.id) == col(table.village_id))
        .where(col(models.Village.admin_code).startswith(region, autoescape=True))
    )
    households = session.execute(stmt).all()
    counties = {h[2] for h in households}
    in_villages = select(col(models.Village.id)).where(
        col(models.Village.admin_code).startswith(region, autoescape=True)
    )
    in_households = select(col(table.id)).where(col(table.village_id).in_(in_villages))
    on = _shocks_on(
        session,
        or_(
            col(Shock.household_id).in_(in_households),
            col(Shock.village_id).in_(in_villages),
            col(Shock.county_code).in_(counties),
        ),
    )
    last = today.year - 1
    income = _incomes(session, col(HouseholdIncome.household_id).in_(in_households), last)
    line = store.scoring.impoverished_below
    return _assessed(households, on, income, line=line, rules=rules, today=today)


def risks_of(
    session: Session, rows: Sequence[Sequence[Any]], *, line: int, rules: RiskRules, today: dt.date
) -> dict[str, Risk]:
    """Household id -> its risk, for rows of (id, village_id, county_code, status, score,
    previous_score, causes) already read: their shocks and incomes in a few queries per
    QUERY_CHUNK rows (RegistryService.ListWatchlist ranks its watched households so)."""
    out: dict[str, Risk] = {}
    last = today.year - 1
    for start in range(0, len(rows), QUERY_CHUNK):
        chunk = [(*r[:7], "") for r in rows[start : start + QUERY_CHUNK]]
        ids = [str(r[0]) for r in chunk]
        villages = sorted({str(r[1]) for r in chunk})
        counties = sorted({str(r[2]) for r in chunk})
        on = _shocks_on(
            session,
            or_(
                db.one_of(session, col(Shock.household_id), ids),
                db.one_of(session, col(Shock.village_id), villages),
                db.one_of(session, col(Shock.county_code), counties),
            ),
        )
        income = _incomes(session, db.one_of(session, col(HouseholdIncome.household_id), ids), last)
        for r in _assessed(chunk, on, income, line=line, rules=rules, today=today):
            out[r.facts.id] = r.risk
    return out


_FACT_COLUMNS = tuple(
    col(c)
    for c in (
        models.Household.id, models.Household.village_id, models.Household.county_code,
        models.Household.status, models.Household.score, models.Household.previous_score,
        models.Household.causes,
    )
)  # fmt: skip


def _shocks_on(session: Session, condition: Any) -> dict[str, list[ShockFact]]:
    """Household, village or county id -> the shocks on it, of the shocks matching condition."""
    on: dict[str, list[ShockFact]] = defaultdict(list)
    for s in session.scalars(select(Shock).where(condition)):
        key, where = (
            (s.household_id, "household")
            if s.household_id
            else (s.village_id, "village")
            if s.village_id
            else (s.county_code, "county")
        )
        fact = ShockFact(s.id, s.kind, dt.date.fromisoformat(s.date), s.severity, where)
        on[str(key)].append(fact)
    return on


def _assessed(
    households: Iterable[Sequence[Any]],
    on: dict[str, list[ShockFact]],
    income: dict[tuple[str, int], int],
    *,
    line: int,
    rules: RiskRules,
    today: dt.date,
) -> list[Ranked]:
    """Each row of (id, village, county, status, score, previous, causes, admin code) with its
    facts and risk."""
    last = today.year - 1
    out = []
    for hid, vid, county, status, score, previous, causes, code in households:
        facts = HouseholdFacts(
            hid, vid, county, status, score, previous, causes or [],
            income.get((hid, last - 1), -1), income.get((hid, last), -1), last,
        )  # fmt: skip
        found = [*on.get(hid, ()), *on.get(vid, ()), *on.get(county, ())]
        assessed = risk.assess(facts, found, line=line, rules=rules, today=today)
        out.append(Ranked(facts, code, assessed))
    return out


def _incomes(session: Session, households: Any, last: int) -> dict[tuple[str, int], int]:
    """(household, year) -> its income record's total of `last` and the year before, for the
    income records the `households` condition selects."""
    inc = HouseholdIncome
    total = col(inc.produce_fen) + col(inc.dividends_fen) + col(inc.aid_fen)
    rows = session.execute(
        select(col(inc.household_id), col(inc.year), total).where(
            households, col(inc.year).in_([last - 1, last])
        )
    )
    return {(household, year): int(fen) for household, year, fen in rows}
