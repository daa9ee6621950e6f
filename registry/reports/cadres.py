"""Cadre coverage and visits, per area: the poor households now, those contracted to a cadre
(结对帮扶, set by a committed contracting run: registry/runs/cadres.py), the cadres contracted
there and the cadres stationed there; and the visits (帮扶日志: registry/cadrework/visits.py)
to those contracted households within the report's years: how many, the households visited and
not visited, and those overdue (no visit in the OVERDUE_DAYS up to the report's as-of date).

Every figure is an aggregate in the database: one query per figure group, none per row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Subquery, and_, case, func, or_, select
from sqlmodel import col

from registry.cadrework.models import CadreVisit
from registry.reports.period import Area, Period, area_columns, in_region
from registry.resources import models
from registry.resources.store import RegistryStore
from registry.runs.cadres import POOR_STATUSES

HOUSEHOLD, VILLAGE, CONTRACT, CADRE, VISIT = (
    models.Household,
    models.Village,
    models.HouseholdContract,
    models.Cadre,
    CadreVisit,
)
OVERDUE_DAYS = 30  # as CadreWorkService.AssessCadres by default


@dataclass
class Coverage:
    area: Area
    poor_households: int = 0
    contracted: int = 0
    cadres: int = 0
    stationed: int = 0
    visits: int = 0  # to the contracted households, in the period
    visited: int = 0  # contracted households with a visit in the period
    overdue: int = 0  # contracted households with no visit in OVERDUE_DAYS up to as_of

    @property
    def coverage(self) -> float:
        return self.contracted / self.poor_households if self.poor_households else 0.0

    @property
    def not_visited(self) -> int:
        return self.contracted - self.visited

    @property
    def visits_per_household(self) -> float:
        return self.visits / self.contracted if self.contracted else 0.0


def as_of(period: Period, today: dt.date) -> dt.date:
    """The day overdue visits are counted at: today, or the period's last day if earlier."""
    return min(today, dt.date(period.last, 12, 31))


def coverage(store: RegistryStore, period: Period, *, today: dt.date) -> list[Coverage]:
    """Per area (those with no poor household and no cadre left out)."""
    found: dict[Area, Coverage] = {}

    def at(code: str, name: str) -> Coverage:
        area = Area(code, name)
        return found.setdefault(area, Coverage(area))

    with store.transaction() as session:
        for code, name, *figures in session.execute(_poor(period, as_of(period, today))):
            row = at(code, name)
            poor, contracted, visits, visited, overdue = (int(n or 0) for n in figures)
            row.poor_households, row.contracted = poor, contracted
            row.visits, row.visited, row.overdue = visits, visited, overdue
        for code, name, cadres in session.execute(_contracting_cadres(period)):
            at(code, name).cadres = cadres
        for code, name, cadres in session.execute(_stationed(period)):
            at(code, name).stationed = cadres
    return sorted(found.values(), key=lambda c: c.area.code)


def _visits_by_household(period: Period, day: dt.date) -> Subquery:
    """(household_id, visits dated in the period, the date of its last visit by `day`) of
    every household with a visit by the period's end. Dates are ISO text: compared as text."""
    date = col(VISIT.date)
    return (
        select(
            col(VISIT.household_id).label("household_id"),
            func.count(case((date >= f"{period.first:04d}-01-01", 1))).label("visits"),
            func.max(case((date <= day.isoformat(), date))).label("last"),
        )
        .where(date <= f"{period.last:04d}-12-31")
        .group_by(col(VISIT.household_id))
        .subquery()
    )


def _poor(period: Period, day: dt.date) -> Select[Any]:
    """(area code, name, poor households, of them contracted, visits to those, of those
    visited, of those overdue)."""
    code, name = area_columns(period)
    v = _visits_by_household(period, day)
    contracted = col(CONTRACT.household_id).is_not(None)  # a contract joined
    cutoff = (day - dt.timedelta(days=OVERDUE_DAYS)).isoformat()
    return (
        select(
            code,
            name,
            func.count(),
            func.count(col(CONTRACT.household_id)),
            func.sum(case((contracted, v.c.visits), else_=0)),
            func.count(case((and_(contracted, v.c.visits > 0), 1))),
            func.count(case((and_(contracted, or_(v.c.last.is_(None), v.c.last < cutoff)), 1))),
        )
        .select_from(HOUSEHOLD)
        .join(VILLAGE, col(VILLAGE.id) == col(HOUSEHOLD.village_id))
        .outerjoin(CONTRACT, col(CONTRACT.household_id) == col(HOUSEHOLD.id))
        .outerjoin(v, v.c.household_id == col(HOUSEHOLD.id))
        .where(in_region(period), col(HOUSEHOLD.status).in_(POOR_STATUSES))
        .group_by(code, name)
    )


def _contracting_cadres(period: Period) -> Select[Any]:
    """(area code, name, cadres contracted to households of the area)."""
    code, name = area_columns(period)
    return (
        select(code, name, func.count(func.distinct(col(CONTRACT.cadre_id))))
        .join(HOUSEHOLD, col(HOUSEHOLD.id) == col(CONTRACT.household_id))
        .join(VILLAGE, col(VILLAGE.id) == col(HOUSEHOLD.village_id))
        .where(in_region(period))
        .group_by(code, name)
    )


def _stationed(period: Period) -> Select[Any]:
    """(area code, name, cadres posted to a village of the area)."""
    code, name = area_columns(period)
    return (
        select(code, name, func.count())
        .select_from(CADRE)
        .join(VILLAGE, col(VILLAGE.id) == col(CADRE.current_village_id))
        .where(in_region(period))
        .group_by(code, name)
    )
