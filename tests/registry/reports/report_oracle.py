"""The reports computed again in plain Python over the rows the database holds, with none of
registry/reports/'s SQL: what tests/registry/reports/test_reports.py checks each RPC against."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from registry.cadrework.models import CadreVisit
from registry.resources import models
from registry.season.models import HouseholdIncome

LIFTED, RETURNED = 3, 4
POOR_FILED = (1, 4)
POOR_NOW = (1, 2, 4)


@dataclass(frozen=True)
class Rows:
    """Every row the reports read, as plain tuples and dicts."""

    area: dict[str, tuple[str, str]]  # household id -> (area code, area name)
    village_area: dict[str, tuple[str, str]]  # village id -> (area code, area name)
    changes: list[tuple[str, datetime, int, int, int]]  # household, time, old, new, id
    members: dict[str, int]
    status: dict[str, int]
    causes: dict[str, list[int]]
    incomes: list[tuple[str, int, int, int, int]]  # household, year, produce, dividends, aid
    grants: list[tuple[str, datetime, str, int]]  # household, time, programme, amount
    contracts: dict[str, str]  # household -> cadre
    postings: dict[str, str]  # cadre -> village
    visits: list[tuple[str, str, date]]  # household, cadre, date


def read(store: Any, *, by_village: bool, region: str = "") -> Rows:
    with store.transaction() as session:
        villages = {v.id: v for v in session.scalars(select(models.Village))}
        households = list(session.scalars(select(models.Household)))
        changes = list(session.scalars(select(models.StatusChange)))
        incomes = list(session.scalars(select(HouseholdIncome)))
        entries = list(session.scalars(select(models.LedgerEntry)))
        contracts = list(session.scalars(select(models.HouseholdContract)))
        cadres = list(session.scalars(select(models.Cadre)))
        visits = list(session.scalars(select(CadreVisit)))

    def area_of(v: models.Village) -> tuple[str, str]:
        return (v.admin_code, v.display_name) if by_village else (v.county_code, "")

    kept = {i: v for i, v in villages.items() if v.admin_code.startswith(region)}
    mine = [h for h in households if h.village_id in kept]
    ids = {h.id for h in mine}
    return Rows(
        area={h.id: area_of(kept[h.village_id]) for h in mine},
        village_area={i: area_of(v) for i, v in kept.items()},
        changes=[
            (c.household_id, _utc(c.time), c.old_status, c.new_status, c.id or 0)
            for c in changes
            if c.household_id in ids
        ],
        members={h.id: h.members for h in mine},
        status={h.id: h.status for h in mine},
        causes={h.id: list(h.causes) for h in mine},
        incomes=[
            (r.household_id, r.year, r.produce_fen, r.dividends_fen, r.aid_fen)
            for r in incomes
            if r.household_id in ids
        ],
        grants=[
            (e.subject_id, _utc(e.time), e.counterpart_id, e.amount_fen)
            for e in entries
            if e.kind == "aid_grant" and e.subject_id in ids
        ],
        contracts={c.household_id: c.cadre_id for c in contracts if c.household_id in ids},
        postings={c.id: c.current_village_id for c in cadres if c.current_village_id in kept},
        visits=[
            (v.household_id, v.cadre_id, date.fromisoformat(v.date))
            for v in visits
            if v.household_id in ids
        ],
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def end(year: int) -> datetime:
    return datetime(year + 1, 1, 1, tzinfo=UTC)


def status_at_year_end(rows: Rows, year: int) -> dict[tuple[str, str], dict[int, int]]:
    latest: dict[str, tuple[datetime, int, int]] = {}
    for household, time, _, new, ident in rows.changes:
        if time < end(year) and (household not in latest or (time, ident) > latest[household][:2]):
            latest[household] = (time, ident, new)
    counts: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for household, (_, _, status) in latest.items():
        counts[rows.area[household]][status] += 1
    return {area: dict(c) for area, c in counts.items()}


def exits(rows: Rows, year: int) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(exits, returns, ever lifted out) per area."""
    out: dict[tuple[str, str], list[set[str]]] = defaultdict(lambda: [set(), set(), set()])
    for household, time, old, new, _ in rows.changes:
        sets = out[rows.area[household]]
        moved = old not in (0, new) and new in (LIFTED, RETURNED)  # 0: a first filing
        if end(year - 1) <= time < end(year) and moved:
            sets[0 if new == LIFTED else 1].add(household)
        if new == LIFTED and time < end(year):
            sets[2].add(household)
    return {a: (len(s[0]), len(s[1]), len(s[2])) for a, s in out.items() if any(s)}


def incomes(rows: Rows, year: int) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """(poor households, with a record, members, total fen) per area."""
    poor = {h for h, time, _, new, _ in rows.changes if new in POOR_FILED and time < end(year)}
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for household in poor:
        out[rows.area[household]][0] += 1
    for household, y, produce, dividends, aid in rows.incomes:
        if y == year and household in poor:
            sums = out[rows.area[household]]
            sums[1] += 1
            sums[2] += rows.members[household]
            sums[3] += produce + dividends + aid
    return {a: (s[0], s[1], s[2], s[3]) for a, s in out.items()}


def aid(rows: Rows, year: int) -> tuple[dict[str, tuple[int, int, int]], dict[int, list[int]]]:
    """Per programme (amount, grants, households) and per cause [amount, grants, households]."""
    programmes: dict[str, list[Any]] = defaultdict(lambda: [0, 0, set()])
    causes: dict[int, list[Any]] = defaultdict(lambda: [0, 0, set()])
    for household, time, programme, amount in rows.grants:
        if not end(year - 1) <= time < end(year):
            continue
        p = programmes[programme]
        p[0], p[1] = p[0] + amount, p[1] + 1
        p[2].add(household)
        filed = sorted(rows.causes[household]) or [0]
        for i, cause in enumerate(filed):
            share = amount // len(filed) + (amount % len(filed) if i == 0 else 0)
            c = causes[cause]
            c[0], c[1] = c[0] + share, c[1] + 1
            c[2].add(household)
    return (
        {k: (v[0], v[1], len(v[2])) for k, v in programmes.items()},
        {k: [v[0], v[1], len(v[2])] for k, v in causes.items()},
    )


def coverage(rows: Rows) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """(poor households, contracted of them, cadres contracted, cadres stationed) per area."""
    out: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, 0, set(), 0])
    for household, status in rows.status.items():
        if status in POOR_NOW:
            sums = out[rows.area[household]]
            sums[0] += 1
            sums[1] += household in rows.contracts
    for household, cadre in rows.contracts.items():
        out[rows.area[household]][2].add(cadre)
    for village in rows.postings.values():
        out[rows.village_area[village]][3] += 1
    return {a: (s[0], s[1], len(s[2]), s[3]) for a, s in out.items()}


def visits(
    rows: Rows, first: int, last: int, as_of: date, overdue_days: int = 30
) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """(visits, visited, not visited, overdue) per area with poor households, over the poor
    households contracted now: visits by any cadre dated in the years; overdue, no visit in
    the overdue_days up to as_of."""
    start, end_day = date(first, 1, 1), date(last, 12, 31)
    dates: dict[str, list[date]] = defaultdict(list)
    for household, _, day in rows.visits:
        dates[household].append(day)
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for household, status in rows.status.items():
        if status not in POOR_NOW:
            continue
        sums = out[rows.area[household]]  # every area with poor households has a row
        if household not in rows.contracts:
            continue
        here = [d for d in dates[household] if start <= d <= end_day]
        sums[0] += len(here)
        sums[1 if here else 2] += 1
        seen = [d for d in dates[household] if d <= as_of]
        if not seen or max(seen) < as_of - timedelta(days=overdue_days):
            sums[3] += 1
    return {a: (s[0], s[1], s[2], s[3]) for a, s in out.items()}
