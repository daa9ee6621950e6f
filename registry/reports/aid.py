"""Aid granted per year, by programme and by cause of poverty, from the ledger's aid grants
(written by a committed aid run: registry/runs/aid.py), in the year of the commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import col

from registry.ledger.reports import NO_CAUSE, split_amount
from registry.reports.period import Period, in_region, year_end, year_of
from registry.resources import models
from registry.resources.store import RegistryStore
from registry.runs.aid import GRANT_ENTRY

ENTRY, HOUSEHOLD, VILLAGE, PROGRAMME = (
    models.LedgerEntry,
    models.Household,
    models.Village,
    models.AidProgram,
)


@dataclass(frozen=True)
class ByProgramme:
    year: int
    programme_id: str
    name: str  # "" for a programme deleted since
    kind: int
    amount_fen: int
    grants: int
    households: int


@dataclass
class ByCause:
    year: int
    cause: int  # PovertyCause; NO_CAUSE for households filed without one
    amount_fen: int = 0
    grants: int = 0
    households: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class AidTotals:
    programmes: list[ByProgramme]
    causes: list[ByCause]
    total_fen: int


def aid_totals(store: RegistryStore, period: Period) -> AidTotals:
    grants = _grants(period).subquery()
    g = grants.c
    by_programme = (
        select(
            g.year,
            g.programme_id,
            func.coalesce(col(PROGRAMME.display_name), ""),
            func.coalesce(col(PROGRAMME.kind), 0),
            func.sum(g.amount_fen),
            func.count(),
            func.count(func.distinct(g.household_id)),
        )
        .outerjoin(PROGRAMME, col(PROGRAMME.id) == g.programme_id)
        .group_by(g.year, g.programme_id, col(PROGRAMME.display_name), col(PROGRAMME.kind))
        .order_by(g.year, g.programme_id)
    )
    causes: dict[tuple[int, int], ByCause] = {}
    total = 0
    with store.transaction() as session:
        programmes = [
            ByProgramme(year, pid, name, kind, int(amount), grants_, households)
            for year, pid, name, kind, amount, grants_, households in session.execute(by_programme)
        ]
        for year, _, household_id, amount, filed in session.execute(_grants(period)):
            total += amount
            for cause, share in split_amount(amount, sorted(filed or []) or [NO_CAUSE]):
                row = causes.setdefault((year, cause), ByCause(year, cause))
                row.amount_fen += share
                row.grants += 1
                row.households.add(household_id)
    ordered = [causes[k] for k in sorted(causes)]
    return AidTotals(programmes, ordered, total)


def _grants(period: Period) -> Select[Any]:
    """(year, programme id, household id, amount, household's causes) of each aid grant to a
    household of the region in the period."""
    return (
        select(
            year_of(col(ENTRY.time), period).label("year"),
            col(ENTRY.counterpart_id).label("programme_id"),
            col(ENTRY.subject_id).label("household_id"),
            col(ENTRY.amount_fen).label("amount_fen"),
            col(HOUSEHOLD.causes).label("causes"),
        )
        .join(HOUSEHOLD, col(HOUSEHOLD.id) == col(ENTRY.subject_id))
        .join(VILLAGE, col(VILLAGE.id) == col(HOUSEHOLD.village_id))
        .where(
            col(ENTRY.kind) == GRANT_ENTRY,
            in_region(period),
            col(ENTRY.time) >= year_end(period.first - 1),
            col(ENTRY.time) < year_end(period.last),
        )
    )
