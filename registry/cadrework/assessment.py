"""The periodic assessment of cadres (考核): coverage, visits, their households' outcomes.

For each cadre of a region with households contracted to it (or a posting there): its
households at the period's end, the visits to them in the period, the households visited, those
overdue (no visit within ``overdue_days`` of the period's end), the change of their income
records from ``year - 1`` to ``year`` (produce, dividends and aid: registry/season/income.py)
and their status changes in the period. Cadres are ranked within their unit (the first
``unit_digits`` of the admin code of the village they serve in, else of their households'):
fewest overdue households as a share of theirs, then most visits per household, then the
largest income change per household, then the id. ``rank_cadres`` is the pure part; ``assess``
reads the facts it needs.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace

from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from registry.access import scopes
from registry.access.policy import Principal
from registry.cadrework.models import CadreVisit
from registry.resources import models
from registry.resources.kinds import CADRE
from registry.resources.store import RegistryStore
from registry.season.models import HouseholdIncome

LIFTED_OUT, RETURNED = 3, 4  # fupin.registry.v1.HouseholdStatus


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date
    year: int
    overdue_days: int = 30
    unit_digits: int = 9


@dataclass(frozen=True)
class CadreFacts:
    """What the assessment reads of one cadre: its households, the dates of its visits to
    each (up to the period's end), their income totals by year and their new statuses in the
    period."""

    cadre_id: str
    display_name: str
    rank: int
    unit: str
    households: tuple[str, ...] = ()
    visits: dict[str, list[dt.date]] = field(default_factory=dict)
    income: dict[str, dict[int, int]] = field(default_factory=dict)
    changes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Assessment:
    cadre_id: str
    display_name: str
    rank: int
    unit: str
    households: int
    visits: int
    visits_per_household: float
    visited_households: int
    overdue_households: int
    income_change_fen: int
    income_change_per_household_fen: float
    status_changes: int
    lifted_out: int
    returned: int
    unit_rank: int = 0
    unit_size: int = 0


def measure(facts: CadreFacts, period: Period) -> Assessment:
    """One cadre's figures for the period."""
    n = len(facts.households)
    in_period, visited, overdue = 0, 0, 0
    for household in facts.households:
        dates = [d for d in facts.visits.get(household, []) if d <= period.end]
        here = sum(1 for d in dates if d >= period.start)
        in_period += here
        visited += here > 0
        if not dates or (period.end - max(dates)).days > period.overdue_days:
            overdue += 1
    change = sum(
        facts.income.get(h, {}).get(period.year, 0)
        - facts.income.get(h, {}).get(period.year - 1, 0)
        for h in facts.households
    )
    return Assessment(
        cadre_id=facts.cadre_id,
        display_name=facts.display_name,
        rank=facts.rank,
        unit=facts.unit,
        households=n,
        visits=in_period,
        visits_per_household=in_period / n if n else 0.0,
        visited_households=visited,
        overdue_households=overdue,
        income_change_fen=change,
        income_change_per_household_fen=change / n if n else 0.0,
        status_changes=len(facts.changes),
        lifted_out=sum(1 for s in facts.changes if s == LIFTED_OUT),
        returned=sum(1 for s in facts.changes if s == RETURNED),
    )


def rank_cadres(all_facts: list[CadreFacts], period: Period) -> list[Assessment]:
    """Every cadre measured and ranked within its unit (module doc): by unit, then rank."""
    by_unit: dict[str, list[Assessment]] = defaultdict(list)
    for facts in all_facts:
        one = measure(facts, period)
        by_unit[one.unit].append(one)
    out: list[Assessment] = []
    for unit in sorted(by_unit):
        ranked = sorted(
            by_unit[unit],
            key=lambda a: (
                a.overdue_households / a.households if a.households else 1.0,
                -a.visits_per_household,
                -a.income_change_per_household_fen,
                a.cadre_id,
            ),
        )
        out += [replace(a, unit_rank=i, unit_size=len(ranked)) for i, a in enumerate(ranked, 1)]
    return out


def assess(
    store: RegistryStore, *, region_code: str, period: Period, principal: Principal
) -> list[Assessment]:
    """The assessment of the region's cadres the key may see (its office region's)."""
    with store.transaction() as session:
        return rank_cadres(_facts(session, region_code, period, principal), period)


def _facts(
    session: Session, region_code: str, period: Period, principal: Principal
) -> list[CadreFacts]:
    cad, hc, hh, vil = models.Cadre, models.HouseholdContract, models.Household, models.Village
    in_region = col(vil.admin_code).startswith(region_code, autoescape=True)
    mine = scopes.clause(CADRE, principal, write=True)
    contracted = (
        select(col(hc.cadre_id), col(hc.household_id), col(vil.admin_code))
        .join(hh, col(hh.id) == col(hc.household_id))
        .join(vil, col(vil.id) == col(hh.village_id))
        .where(in_region)
    )
    households: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for cadre_id, household_id, code in session.execute(contracted):
        households[cadre_id].append((household_id, code))
    posted = (
        select(col(cad.id)).join(vil, col(vil.id) == col(cad.current_village_id)).where(in_region)
    )
    stmt = select(cad, col(vil.admin_code)).outerjoin(
        vil, col(vil.id) == col(cad.current_village_id)
    )
    with_households = select(contracted.subquery().c.cadre_id)
    stmt = stmt.where(or_(col(cad.id).in_(with_households), col(cad.id).in_(posted)))
    if mine is not None:
        stmt = stmt.where(mine)
    cadres = list(session.execute(stmt.order_by(col(cad.id))))
    visits, income, changes = _outcomes(session, contracted, period)
    out = []
    for cadre, posting_code in cadres:
        own = households.get(cadre.id, [])
        code = posting_code or (min(c for _, c in own) if own else cadre.home_region_code)
        ids = tuple(sorted(h for h, _ in own))
        out.append(
            CadreFacts(
                cadre_id=cadre.id,
                display_name=cadre.display_name,
                rank=cadre.rank,
                unit=code[: period.unit_digits],
                households=ids,
                visits={h: visits.get((cadre.id, h), []) for h in ids},
                income={h: income.get(h, {}) for h in ids},
                changes=tuple(s for h in ids for s in changes.get(h, [])),
            )
        )
    return out


def _outcomes(
    session: Session, contracted: object, period: Period
) -> tuple[dict[tuple[str, str], list[dt.date]], dict[str, dict[int, int]], dict[str, list[int]]]:
    """Visits by (cadre, household), income by household and year, new statuses by household,
    for the contracted households of the region."""
    sub = contracted.subquery()  # type: ignore[attr-defined]
    visit = CadreVisit
    rows = session.execute(
        select(col(visit.cadre_id), col(visit.household_id), col(visit.date)).join(
            sub,
            and_(
                sub.c.household_id == col(visit.household_id), sub.c.cadre_id == col(visit.cadre_id)
            ),
        )
    )
    visits: dict[tuple[str, str], list[dt.date]] = defaultdict(list)
    for cadre_id, household_id, date in rows:
        visits[(cadre_id, household_id)].append(dt.date.fromisoformat(date))
    inc = HouseholdIncome
    income: dict[str, dict[int, int]] = defaultdict(dict)
    for household_id, year, produce, dividends, aid in session.execute(
        select(
            col(inc.household_id), col(inc.year), col(inc.produce_fen),
            col(inc.dividends_fen), col(inc.aid_fen),
        )
        .where(col(inc.household_id).in_(select(sub.c.household_id)))
        .where(col(inc.year).in_([period.year - 1, period.year]))
    ):  # fmt: skip
        income[household_id][year] = produce + dividends + aid
    sc = models.StatusChange
    start = dt.datetime.combine(period.start, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    changes: dict[str, list[int]] = defaultdict(list)
    for household_id, status in session.execute(
        select(col(sc.household_id), col(sc.new_status)).where(
            col(sc.household_id).in_(select(sub.c.household_id)),
            col(sc.time) >= start,
            col(sc.time) < end,
        )
    ):
        changes[household_id].append(status)
    return visits, income, changes
