"""Reports from the households' status history: households by status at each year's end, and
exits, returns and the return rate per year.

A household's status at the end of a year is its latest history entry before the year ends
(every change of status, the first filing included, writes one: registry/resources/hooks.py,
the imports, the re-survey, income and cases). Households deleted since are gone with their
history.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import col

from registry.reports.period import (
    Area,
    Period,
    area_columns,
    counted_by_first_year,
    first_entered,
    in_region,
    running_totals,
    year_end,
    year_of,
)
from registry.resources import models
from registry.resources.scoring import Status
from registry.resources.store import RegistryStore

CHANGE, HOUSEHOLD, VILLAGE = models.StatusChange, models.Household, models.Village


@dataclass(frozen=True)
class StatusCount:
    year: int
    area: Area
    by_status: dict[int, int]  # Status -> households


@dataclass
class Exits:
    year: int
    area: Area
    exits: int = 0
    returns: int = 0
    ever_lifted_out: int = 0

    @property
    def return_rate(self) -> float:
        return self.returns / self.ever_lifted_out if self.ever_lifted_out else 0.0


def status_counts(store: RegistryStore, period: Period) -> list[StatusCount]:
    """Households by status at the end of each year, per area (areas without any left out)."""
    rows: list[StatusCount] = []
    with store.transaction() as session:
        for year in period.years:
            counts: dict[Area, dict[int, int]] = defaultdict(dict)
            for code, name, status, n in session.execute(_at_year_end(period, year)):
                counts[Area(code, name)][status] = n
            rows += [StatusCount(year, a, counts[a]) for a in sorted(counts, key=_code)]
    return rows


def _at_year_end(period: Period, year: int) -> Select[Any]:
    """(area code, area name, status, households) at the end of `year`."""
    ranked = (
        select(
            col(CHANGE.household_id).label("household_id"),
            col(CHANGE.new_status).label("status"),
            func.row_number()
            .over(
                partition_by=col(CHANGE.household_id),
                order_by=(col(CHANGE.time).desc(), col(CHANGE.id).desc()),
            )
            .label("latest"),
        )
        .join(HOUSEHOLD, col(HOUSEHOLD.id) == col(CHANGE.household_id))
        .join(VILLAGE, col(VILLAGE.id) == col(HOUSEHOLD.village_id))
        .where(col(CHANGE.time) < year_end(year), in_region(period))
        .subquery()
    )
    code, name = area_columns(period)
    return (
        select(code, name, ranked.c.status, func.count())
        .select_from(ranked)
        .join(HOUSEHOLD, col(HOUSEHOLD.id) == ranked.c.household_id)
        .join(VILLAGE, col(VILLAGE.id) == col(HOUSEHOLD.village_id))
        .where(ranked.c.latest == 1)
        .group_by(code, name, ranked.c.status)
    )


def exits(store: RegistryStore, period: Period) -> list[Exits]:
    """Per year and area: households lifted out and returned to poverty in the year, and
    households lifted out at some time by the year's end (areas with none left out)."""
    found: dict[tuple[int, Area], Exits] = {}

    def at(year: int, area: Area) -> Exits:
        return found.setdefault((year, area), Exits(year, area))

    with store.transaction() as session:
        for code, name, year, status, n in session.execute(_moves(period)):
            if period.first <= year <= period.last:
                moved = at(year, Area(code, name))
                if status == Status.LIFTED_OUT:
                    moved.exits = n
                else:
                    moved.returns = n
        lifted = first_entered(period, (Status.LIFTED_OUT,))
        first_lifts = list(session.execute(counted_by_first_year(lifted)))
    for year, area, total in running_totals(period, first_lifts):
        at(year, area).ever_lifted_out = total
    return sorted(found.values(), key=lambda e: (e.year, e.area.code))


def _moves(period: Period) -> Select[Any]:
    """(area code, name, year, status, households) of moves into LIFTED_OUT or RETURNED."""
    code, name = area_columns(period)
    moves = (
        select(
            code.label("code"),
            name.label("name"),
            year_of(col(CHANGE.time), period).label("year"),
            col(CHANGE.new_status).label("status"),
            col(CHANGE.household_id).label("household_id"),
        )
        .join(HOUSEHOLD, col(HOUSEHOLD.id) == col(CHANGE.household_id))
        .join(VILLAGE, col(VILLAGE.id) == col(HOUSEHOLD.village_id))
        .where(
            in_region(period),
            col(CHANGE.new_status).in_((Status.LIFTED_OUT, Status.RETURNED_TO_POVERTY)),
            col(CHANGE.old_status) != col(CHANGE.new_status),
            col(CHANGE.old_status) != Status.UNSPECIFIED,  # a first filing is no exit
            col(CHANGE.time) >= year_end(period.first - 1),
            col(CHANGE.time) < year_end(period.last),
        )
        .subquery()
    )
    c = moves.c
    return select(
        c.code, c.name, c.year, c.status, func.count(func.distinct(c.household_id))
    ).group_by(c.code, c.name, c.year, c.status)


def _code(area: Area) -> str:
    return area.code
