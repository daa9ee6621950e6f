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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session, col

from registry.access.policy import Principal
from registry.errors import NotFound
from registry.resources import models
from registry.resources.store import RegistryStore, new_id
from registry.season.models import HouseholdIncome
from registry.year import risk
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
        select(
            col(table.id), col(table.village_id), col(table.county_code), col(table.status),
            col(table.score), col(table.previous_score), col(table.causes),
            col(models.Village.admin_code),
        )
        .join(models.Village, col(models.Village.id) == col(table.village_id))
        .where(col(models.Village.admin_code).startswith(region, autoescape=True))
    )  # fmt: skip
    households = session.execute(stmt).all()
    counties = {h[2] for h in households}
    in_villages = select(col(models.Village.id)).where(
        col(models.Village.admin_code).startswith(region, autoescape=True)
    )
    in_households = select(col(table.id)).where(col(table.village_id).in_(in_villages))
    on: dict[str, list[ShockFact]] = defaultdict(list)
    shocks = select(Shock).where(
        or_(
            col(Shock.household_id).in_(in_households),
            col(Shock.village_id).in_(in_villages),
            col(Shock.county_code).in_(counties),
        )
    )
    for s in session.scalars(shocks):
        key, where = (
            (s.household_id, "household")
            if s.household_id
            else (s.village_id, "village")
            if s.village_id
            else (s.county_code, "county")
        )
        fact = ShockFact(s.id, s.kind, dt.date.fromisoformat(s.date), s.severity, where)
        on[str(key)].append(fact)
    line = store.scoring.impoverished_below
    last = today.year - 1
    income = _incomes(session, in_households, last)
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
    households of the `households` select."""
    inc = HouseholdIncome
    total = col(inc.produce_fen) + col(inc.dividends_fen) + col(inc.aid_fen)
    rows = session.execute(
        select(col(inc.household_id), col(inc.year), total).where(
            col(inc.household_id).in_(households), col(inc.year).in_([last - 1, last])
        )
    )
    return {(household, year): int(fen) for household, year, fen in rows}
