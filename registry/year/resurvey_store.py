"""The annual re-survey in the database: read the region's cards, diff, and (unless a dry run)
write every update, new household and missing flag in one transaction: all or nothing.

Updates go in bulk: on PostgreSQL the new values are COPYed into a temporary table and one
UPDATE ... FROM applies them (row-by-row UPDATEs ran at a few thousand rows/s); elsewhere one
executemany. Each updated household gains a history entry; each new one its first filing and
a PROPOSED identification case (it enters the workflow); each stored household of the region
the survey did not list is flagged for the year (resurvey_missing), never deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlmodel import Session, col

from registry import db
from registry.access.policy import Principal
from registry.errors import FieldViolation, InvalidArgument
from registry.resources import hooks, models
from registry.resources.bulk import QUERY_CHUNK, _copy_format, _copy_text, bulk_insert, tuple_insert
from registry.resources.imports import FILING_COLUMNS, driver_time
from registry.resources.scoring import Status
from registry.resources.store import RegistryStore, new_id, new_ids
from registry.year import resurvey
from registry.year.models import CaseStep, HouseholdCase, Resurvey, ResurveyMissing
from registry.year.resurvey import SURVEYED, Diff, Stored, json_text
from registry.year.workflow import Actor, CaseKind, CaseState, actor_of

HOUSEHOLD = models.Household.__table__  # type: ignore[attr-defined]
READ = (*("id", "card_number", *resurvey.SURVEYED, "score", "status"),)
WRITTEN = (
    *("village_id", "county_code", "head_name", "members", "labour_force", "housing_safety"),
    *("food_security", "children_schooling", "health", "disability", "income_per_capita_fen"),
    *("causes", "extra_indicators", "set_scores", "score", "status", "previous_score"),
)
JSON_WRITTEN = ("causes", "extra_indicators", "set_scores")


@dataclass(frozen=True)
class Outcome:
    diff: Diff
    households: int
    status_changes: int
    resurvey_id: str  # "" for a dry run


def run(
    store: RegistryStore,
    *,
    rows: list[dict[str, Any]],
    year: int,
    region: str,
    dry_run: bool,
    principal: Principal,
) -> Outcome:
    with store.transaction(write=not dry_run) as session:
        villages = _villages(session, region)
        stored = _stored(session, region)
        _check_rows(session, rows, villages, stored, region)
        found = resurvey.diff(rows, stored)
        now = models.utcnow()
        updates, history, status_changes = _assessed(session, store, found, villages, year, now)
        if dry_run:
            return Outcome(found, len(rows), status_changes, "")
        _update(session, updates, now)
        stamp = driver_time(session, now)
        entries = [(h, stamp, *rest) for h, rest in history]
        dialect = session.connection().dialect.name
        tuple_insert(session, dialect, models.StatusChange, FILING_COLUMNS, entries)()
        _add(session, store, found.added, villages, year, now, principal)
        record = Resurvey(
            id=new_id("rsv"), year=year, region_code=region, time=now,
            key_id=principal.key_id[:40], households=len(rows), updated=len(found.updated),
            unchanged=found.unchanged, added=len(found.added), missing=len(found.missing),
        )  # fmt: skip
        session.add(record)
        session.flush()
        flags = [{"resurvey_id": record.id, "household_id": m.id} for m in found.missing]
        bulk_insert(session, ResurveyMissing, flags)
        return Outcome(found, len(rows), status_changes, record.id)


def _villages(session: Session, region: str) -> dict[str, str]:
    """Village id -> county code, for the villages of the region."""
    stmt = select(col(models.Village.id), col(models.Village.county_code)).where(
        col(models.Village.admin_code).startswith(region, autoescape=True)
    )
    return {vid: county for vid, county in session.execute(stmt)}


def _check_rows(
    session: Session,
    rows: list[dict[str, Any]],
    villages: dict[str, str],
    stored: dict[str, Stored],
    region: str,
) -> None:
    """Each card twice, each village outside the region, and each card not of the region that
    belongs to a household elsewhere (only cards the region lacks are looked up)."""
    bad = resurvey.duplicate_cards(rows)
    bad += [
        FieldViolation(f"households[{i}].village_id", f"is not a village of region {region}")
        for i, row in enumerate(rows)
        if row["village_id"] not in villages
    ]
    unknown = [row["card_number"] for row in rows if row["card_number"] not in stored]
    elsewhere: set[str] = set()
    for start in range(0, len(unknown), QUERY_CHUNK):
        stmt = select(col(models.Household.card_number)).where(
            db.one_of(
                session, col(models.Household.card_number), unknown[start : start + QUERY_CHUNK]
            )
        )
        elsewhere.update(session.scalars(stmt))
    bad += [
        FieldViolation(f"households[{i}].card_number", "is a household outside the region")
        for i, row in enumerate(rows)
        if row["card_number"] in elsewhere
    ]
    if bad:
        raise InvalidArgument(bad[:100])


def _stored(session: Session, region: str) -> dict[str, Stored]:
    """The region's households by card number. A plain text query (JSON read as its text, no
    row processing): the ORM's JSON parsing and row mapping took most of a dry run."""
    names = ", ".join(
        f"CAST(h.{n} AS TEXT)" if n in resurvey.JSON_FIELDS else f"h.{n}" for n in SURVEYED
    )
    stmt = text(
        f"SELECT h.id, h.card_number, h.score, h.status, {names} FROM household AS h "
        "JOIN village AS v ON v.id = h.village_id WHERE v.admin_code LIKE :prefix"
    )
    result = session.connection().execute(stmt, {"prefix": region + "%"}).fetchall()
    return {r[1]: Stored(r[0], r[1], r[2], r[3], tuple(r[4:])) for r in result}


def _assessed(
    session: Session,
    store: RegistryStore,
    found: Diff,
    villages: dict[str, str],
    year: int,
    now: Any,
) -> tuple[list[dict[str, Any]], list[tuple[str, tuple[int, int, int, str]]], int]:
    """Each updated household re-scored: its new column values, its history entry (the
    household and its old status, new status, score and reason), and how
    many change status. Only a household falling below the line needs its history (lifted
    out before: returned, else impoverished), so only those few are looked up; reading the
    region's history for every household took a tenth of a 100,000-row commit."""
    scored = [(old, row, changed, hooks.assess(row, store.scoring, ever_lifted_out=False))
              for old, row, changed in found.updated]  # fmt: skip
    falling = [
        old.id
        for old, _, _, (_, status, _) in scored
        if status == Status.IMPOVERISHED and old.status != Status.LIFTED_OUT
    ]
    lifted = _ever_lifted(session, falling)
    updates: list[dict[str, Any]] = []
    history: list[tuple[str, tuple[int, int, int, str]]] = []
    status_changes = 0
    for old, row, changed, (score, status, sets) in scored:
        if status == Status.IMPOVERISHED and (old.status == Status.LIFTED_OUT or old.id in lifted):
            status = Status.RETURNED_TO_POVERTY
        status_changes += status != old.status
        updates.append(
            {**row, "id": old.id, "county_code": villages[row["village_id"]],
             "set_scores": sets, "score": score, "status": status, "previous_score": old.score}
        )  # fmt: skip
        reason = f"re-survey {year}: {', '.join(changed)}"[:200]
        history.append((old.id, (old.status, status, score, reason)))
    return updates, history, status_changes


def _ever_lifted(session: Session, household_ids: list[str]) -> set[str]:
    """Which of these households were lifted out at some time (a history entry says so)."""
    change = models.StatusChange
    lifted: set[str] = set()
    for start in range(0, len(household_ids), QUERY_CHUNK):
        stmt = select(col(change.household_id)).where(
            col(change.new_status) == Status.LIFTED_OUT,
            db.one_of(
                session, col(change.household_id), household_ids[start : start + QUERY_CHUNK]
            ),
        )
        lifted.update(session.scalars(stmt))
    return lifted


def _update(session: Session, updates: list[dict[str, Any]], now: Any) -> None:
    if not updates:
        return
    if session.connection().dialect.name == "postgresql":
        _update_by_copy(session, updates, now)
        return
    stmt = (
        update(HOUSEHOLD)
        .where(HOUSEHOLD.c.id == bindparam("_id"))
        .values(
            {name: bindparam(name) for name in WRITTEN}
            | {"version": HOUSEHOLD.c.version + 1, "update_time": now}
        )
    )
    session.execute(stmt, [{"_id": u["id"], **{n: u[n] for n in WRITTEN}} for u in updates])


def _update_by_copy(session: Session, updates: list[dict[str, Any]], now: Any) -> None:
    types = {name: "text" if name in JSON_WRITTEN else "" for name in WRITTEN}
    columns = ", ".join(f"{name} {kind or _pg_type(name)}" for name, kind in types.items())
    connection = session.connection()
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE resurvey_rows (id varchar(40), {columns}) ON COMMIT DROP"
    )
    texts: dict[Any, str] = {}  # few distinct cause lists and extra indicators
    rows = [(u["id"], *(_column_text(n, u[n], texts) for n in WRITTEN)) for u in updates]
    _copy_text(
        session, f"COPY resurvey_rows (id, {', '.join(WRITTEN)}) FROM STDIN", _copy_format(rows)
    )
    assignments = ", ".join(
        f"{n} = r.{n}::json" if n in JSON_WRITTEN else f"{n} = r.{n}" for n in WRITTEN
    )
    connection.exec_driver_sql(
        f"UPDATE household AS h SET {assignments}, version = h.version + 1, "
        "update_time = %(now)s FROM resurvey_rows AS r WHERE h.id = r.id",
        {"now": now},
    )


def _column_text(name: str, value: Any, texts: dict[Any, str]) -> Any:
    """A column's value for COPY: JSON as text (sub-scores differ from household to
    household, so only causes and extra indicators are worth caching)."""
    if name == "set_scores":
        return json.dumps(value)
    return json_text(value, texts) if name in JSON_WRITTEN else value


def _pg_type(name: str) -> str:
    if name in ("income_per_capita_fen",):
        return "bigint"
    if name in ("village_id", "county_code", "head_name"):
        return "text"
    return "integer"


def _add(
    session: Session,
    store: RegistryStore,
    added: list[dict[str, Any]],
    villages: dict[str, str],
    year: int,
    now: Any,
    principal: Principal,
) -> None:
    """New households: stored and scored, first filing, and a PROPOSED identification case."""
    if not added:
        return
    ids = new_ids("hh", len(added))
    case_ids = new_ids("case", len(added))
    households, filings, cases, steps = [], [], [], []
    actor = actor_of(principal) or Actor.ADMINISTRATOR
    for row, hid, cid in zip(added, ids, case_ids, strict=True):
        score, status, sets = hooks.assess(row, store.scoring, ever_lifted_out=False)
        values = {k: v for k, v in row.items() if not k.startswith("_")}
        households.append(
            {**values, "id": hid, "create_time": now, "update_time": now, "version": 1,
             "county_code": villages[row["village_id"]], "score": score, "status": status,
             "previous_score": -1, "set_scores": sets}
        )  # fmt: skip
        filings.append(_entry(hid, now, Status.UNSPECIFIED, status, score, f"re-survey {year}"))
        cases.append(
            {"id": cid, "household_id": hid, "village_id": row["village_id"],
             "kind": CaseKind.IDENTIFICATION, "state": CaseState.PROPOSED,
             "reason": f"re-survey {year}: new household", "notice_start": "",
             "notice_end": "", "notice_place": "", "unmet_conditions": "",
             "create_time": now, "update_time": now, "version": 1}
        )  # fmt: skip
        steps.append(
            {"case_id": cid, "time": now, "step": "propose", "old_state": 0,
             "new_state": CaseState.PROPOSED, "actor": actor,
             "key_id": principal.key_id[:40], "note": f"re-survey {year}"}
        )  # fmt: skip
    bulk_insert(session, models.Household, households)
    bulk_insert(session, models.StatusChange, filings)
    bulk_insert(session, HouseholdCase, cases)
    bulk_insert(session, CaseStep, steps)


def _entry(hid: str, now: Any, old: int, new: int, score: int, reason: str) -> dict[str, Any]:
    return {"household_id": hid, "time": now, "old_status": old, "new_status": new,
            "score": score, "reason": reason[:200]}  # fmt: skip
