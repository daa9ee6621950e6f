"""Cadre coverage now, per area: the poor households, those contracted to a cadre (结对帮扶,
set by a committed contracting run: registry/runs/cadres.py), the cadres contracted there and
the cadres stationed there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import col

from registry.reports.period import Area, Period, area_columns, in_region
from registry.resources import models
from registry.resources.store import RegistryStore
from registry.runs.cadres import POOR_STATUSES

HOUSEHOLD, VILLAGE, CONTRACT, CADRE = (
    models.Household,
    models.Village,
    models.HouseholdContract,
    models.Cadre,
)


@dataclass
class Coverage:
    area: Area
    poor_households: int = 0
    contracted: int = 0
    cadres: int = 0
    stationed: int = 0

    @property
    def coverage(self) -> float:
        return self.contracted / self.poor_households if self.poor_households else 0.0


def coverage(store: RegistryStore, period: Period) -> list[Coverage]:
    """Per area (those with no poor household and no cadre left out)."""
    found: dict[Area, Coverage] = {}

    def at(code: str, name: str) -> Coverage:
        area = Area(code, name)
        return found.setdefault(area, Coverage(area))

    with store.transaction() as session:
        for code, name, poor, contracted in session.execute(_poor(period)):
            row = at(code, name)
            row.poor_households, row.contracted = poor, contracted
        for code, name, cadres in session.execute(_contracting_cadres(period)):
            at(code, name).cadres = cadres
        for code, name, cadres in session.execute(_stationed(period)):
            at(code, name).stationed = cadres
    return sorted(found.values(), key=lambda c: c.area.code)


def _poor(period: Period) -> Select[Any]:
    """(area code, name, poor households, of them contracted)."""
    code, name = area_columns(period)
    contracted = func.count(col(CONTRACT.household_id))  # not NULL: a contract joined
    return (
        select(code, name, func.count(), contracted)
        .select_from(HOUSEHOLD)
        .join(VILLAGE, col(VILLAGE.id) == col(HOUSEHOLD.village_id))
        .outerjoin(CONTRACT, col(CONTRACT.household_id) == col(HOUSEHOLD.id))
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
