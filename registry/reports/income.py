"""Income of poor households per year, from their income records (registry/season/income.py:
produce paid for, dividends, aid signed for).

The poor households of year Y are those filed IMPOVERISHED or RETURNED_TO_POVERTY at some time
by the end of Y (建档立卡户, those lifted out since included): the population whose income
growth the seed papers follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import col

from registry.reports.period import (
    Area,
    Period,
    counted_by_first_year,
    first_entered,
    running_totals,
)
from registry.resources import models
from registry.resources.scoring import Status
from registry.resources.store import RegistryStore
from registry.season.models import HouseholdIncome

CHANGE, HOUSEHOLD, VILLAGE = models.StatusChange, models.Household, models.Village
POOR = (Status.IMPOVERISHED, Status.RETURNED_TO_POVERTY)


@dataclass
class Income:
    year: int
    area: Area
    poor_households: int = 0
    with_record: int = 0
    members: int = 0
    produce_fen: int = 0
    dividends_fen: int = 0
    aid_fen: int = 0
    per_capita_growth: float | None = None

    @property
    def total_fen(self) -> int:
        return self.produce_fen + self.dividends_fen + self.aid_fen

    @property
    def per_household_fen(self) -> int:
        return self.total_fen // self.with_record if self.with_record else 0

    @property
    def per_capita_fen(self) -> int:
        return self.total_fen // self.members if self.members else 0


def incomes(store: RegistryStore, period: Period) -> list[Income]:
    """Per year and area: the poor households, their income records' sums and per-capita
    growth against the previous year of the report (areas with no poor household left out)."""
    found: dict[tuple[int, Area], Income] = {}
    with store.transaction() as session:
        first_years = list(session.execute(counted_by_first_year(first_entered(period, POOR))))
        records = list(session.execute(_records(period)))
    for year, area, total in running_totals(period, first_years):
        found[(year, area)] = Income(year, area, poor_households=total)
    for code, name, year, n, members, produce, dividends, aid in records:
        row = found[(year, Area(code, name))]  # a record counts only for a filed household
        row.with_record, row.members = n, int(members)
        row.produce_fen, row.dividends_fen, row.aid_fen = int(produce), int(dividends), int(aid)
    for (year, area), row in found.items():
        before = found.get((year - 1, area))
        if before is not None and before.per_capita_fen > 0:
            row.per_capita_growth = row.per_capita_fen / before.per_capita_fen - 1
    return sorted(found.values(), key=lambda r: (r.year, r.area.code))


def _records(period: Period) -> Select[Any]:
    """(area code, name, year, households, members, produce, dividends, aid) of the income
    records of households filed poor by the end of the record's year."""
    poor = first_entered(period, POOR)
    firsts, record = poor.c, HouseholdIncome
    return (
        select(
            firsts.code,
            firsts.name,
            col(record.year),
            func.count(),
            func.sum(col(HOUSEHOLD.members)),
            func.sum(col(record.produce_fen)),
            func.sum(col(record.dividends_fen)),
            func.sum(col(record.aid_fen)),
        )
        .join(poor, firsts.household_id == col(record.household_id))
        .join(HOUSEHOLD, col(HOUSEHOLD.id) == col(record.household_id))
        .where(
            col(record.year) >= period.first,
            col(record.year) <= period.last,
            firsts.year <= col(record.year),
        )
        .group_by(firsts.code, firsts.name, col(record.year))
    )
