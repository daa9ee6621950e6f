"""What every report is over: a region, a span of calendar years (UTC), and its areas (counties
or villages); and the SQL pieces each report shares: the area of a household, the region's
filter, and the year an event falls in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, case, func, literal, select
from sqlmodel import col

from registry.resources import models

MAX_YEARS = 20
DEFAULT_YEARS = 5


@dataclass(frozen=True)
class Period:
    region: str  # administrative code prefix of the villages; "" = every region
    first: int  # first and last calendar year, inclusive
    last: int
    by_village: bool

    @property
    def years(self) -> range:
        return range(self.first, self.last + 1)


@dataclass(frozen=True)
class Area:
    code: str  # a county's 6 digits or a village's admin code
    name: str  # the village's name; "" for a county


def year_end(year: int) -> datetime:
    """The first instant after `year` (UTC): "at the end of year Y" is before this."""
    return datetime(year + 1, 1, 1, tzinfo=UTC)


def area_columns(period: Period) -> tuple[Any, Any]:
    """(code, name) of a village's area, to select and group by (village joined)."""
    if period.by_village:
        return col(models.Village.admin_code), col(models.Village.display_name)
    return col(models.Village.county_code), literal("")


def in_region(period: Period) -> ColumnElement[bool]:
    """The villages of the period's region (village joined)."""
    return col(models.Village.admin_code).startswith(period.region, autoescape=True)


def year_of(column: Any, period: Period) -> Any:
    """The calendar year (UTC) of a time column within the period, first - 1 before it and
    last + 1 after it: compared with bound instants, so the database's time zone setting
    plays no part (EXTRACT on a timestamptz would use it)."""
    whens = [(column < year_end(year), year) for year in range(period.first - 1, period.last + 1)]
    return case(*whens, else_=period.last + 1)


def first_entered(period: Period, statuses: tuple[int, ...]) -> Subquery:
    """(household_id, code, name, year) of each household of the region whose history
    enters one of `statuses` by the period's end: the year it first did (period.first - 1 for
    any year before the period)."""
    change, household, village = models.StatusChange, models.Household, models.Village
    code, name = area_columns(period)
    return (
        select(
            col(change.household_id).label("household_id"),
            code.label("code"),
            name.label("name"),
            func.min(year_of(col(change.time), period)).label("year"),
        )
        .join(household, col(household.id) == col(change.household_id))
        .join(village, col(village.id) == col(household.village_id))
        .where(
            in_region(period),
            col(change.new_status).in_(statuses),
            col(change.time) < year_end(period.last),
        )
        .group_by(col(change.household_id), code, name)
        .subquery()
    )


def counted_by_first_year(firsts: Subquery) -> Select[Any]:
    """(code, name, year, households) of a first_entered subquery."""
    c = firsts.c
    return select(c.code, c.name, c.year, func.count()).group_by(c.code, c.name, c.year)


def running_totals(
    period: Period, counts: Iterable[tuple[str, str, int, int]]
) -> Iterator[tuple[int, Area, int]]:
    """(year, area, households whose first year is that year or before) for each year of the
    period with any, from (code, name, first year, households) rows."""
    by_area: dict[Area, dict[int, int]] = defaultdict(dict)
    for code, name, year, n in counts:
        by_area[Area(code, name)][year] = n
    for area, by_year in by_area.items():
        total = 0
        for year in range(period.first - 1, period.last + 1):
            total += by_year.get(year, 0)
            if year >= period.first and total:
                yield year, area, total
