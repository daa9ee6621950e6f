"""What some resources do beyond their own row: a household's score, status and history; a
cooperative's member households. Called by the store inside its transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy import true as sa_true
from sqlmodel import Session, col

from registry import db
from registry.errors import FailedPrecondition, NotFound
from registry.ledger.chain import GRANT_ENTRY
from registry.resources import models
from registry.resources.kinds import AID_PROGRAM, HOUSEHOLD, PRODUCER, Kind
from registry.resources.scoring import Indicators, ScoringConfig, Status, assess_sets, status_for
from registry.season.models import HouseholdIncome

Values = dict[str, Any]


def indicators(values: Values) -> Indicators:
    return Indicators(
        housing_safety=values["housing_safety"],
        food_security=values["food_security"],
        children_schooling=values["children_schooling"],
        health=values["health"],
        disability=values["disability"],
        income_per_capita_fen=values["income_per_capita_fen"],
        members=values["members"],
        labour_force=values["labour_force"],
    )


def assess(
    values: Values, config: ScoringConfig, *, ever_lifted_out: bool
) -> tuple[int, int, dict[str, int]]:
    """(score, status, set sub-scores) of a household from its validated values."""
    extra = values.get("extra_indicators") or {}
    new_score, set_scores = assess_sets(indicators(values), extra, config)
    status = int(status_for(new_score, ever_lifted_out=ever_lifted_out, config=config))
    return new_score, status, set_scores


def before_insert(
    session: Session, kind: Kind, row: Any, values: Values, config: ScoringConfig
) -> None:
    if kind is HOUSEHOLD:
        row.county_code = _county_of(session, values["village_id"])
        row.score, row.status, row.set_scores = assess(values, config, ever_lifted_out=False)
        row.previous_score = -1


def after_insert(session: Session, kind: Kind, row: Any, values: Values) -> None:
    if kind is HOUSEHOLD:
        session.add(first_filing(row, values.get("_reason") or "filed"))
    elif kind is PRODUCER:
        _replace_members(session, row.id, values["_members"])


def first_filing(row: Any, reason: str) -> models.StatusChange:
    return models.StatusChange(
        household_id=row.id,
        time=row.create_time,
        old_status=Status.UNSPECIFIED,
        new_status=row.status,
        score=row.score,
        reason=reason,
    )


def before_update(
    session: Session, kind: Kind, row: Any, values: Values, config: ScoringConfig
) -> None:
    if kind is HOUSEHOLD:
        _reassess(session, row, values, config)
    elif kind is PRODUCER:
        _replace_members(session, row.id, values["_members"])


def _reassess(session: Session, row: Any, values: Values, config: ScoringConfig) -> None:
    """Re-score; a changed status is recorded, and lifted-out-then-poor is a return."""
    ever_lifted = row.status == Status.LIFTED_OUT or was_lifted_out(session, row.id)
    declared = values["income_per_capita_fen"]
    extra = record_per_capita(session, row.id, values["members"], config)
    assessed = {**values, "income_per_capita_fen": declared + extra} if extra else values
    new_score, new_status, values["set_scores"] = assess(
        assessed, config, ever_lifted_out=ever_lifted
    )
    values["county_code"] = _county_of(session, values["village_id"])
    values["previous_score"], values["score"], values["status"] = row.score, new_score, new_status
    if new_status != row.status:
        session.add(
            models.StatusChange(
                household_id=row.id,
                time=models.utcnow(),
                old_status=row.status,
                new_status=new_status,
                score=new_score,
                reason=values.get("_reason") or "reassessment",
            )
        )


def record_per_capita(
    session: Session, household_id: str, members: int, config: ScoringConfig
) -> int:
    """The household's income record of its latest year per member (0 when the scoring does
    not read the record, or there is none)."""
    if not config.income_from_record or members <= 0:
        return 0
    income = HouseholdIncome
    stmt = (
        select(income)
        .where(col(income.household_id) == household_id)
        .order_by(col(income.year).desc())
        .limit(1)
    )
    latest = session.scalars(stmt).first()
    return 0 if latest is None else latest.total_fen // members


def was_lifted_out(session: Session, household_id: str) -> bool:
    stmt = select(col(models.StatusChange.id)).where(
        col(models.StatusChange.household_id) == household_id,
        col(models.StatusChange.new_status) == Status.LIFTED_OUT,
    )
    return session.scalar(stmt.limit(1)) is not None


def before_delete(session: Session, kind: Kind, row: Any) -> None:
    if kind is HOUSEHOLD:
        session.execute(
            delete(models.StatusChange).where(col(models.StatusChange.household_id) == row.id)
        )
    if kind is AID_PROGRAM:
        _refuse_granted(session, row.id)


def _refuse_granted(session: Session, programme_id: str) -> None:
    """A programme whose grants are in the ledger stays (archived, if need be): without it,
    VerifyLedger could no longer hold its spent_fen against its grants."""
    entry = models.LedgerEntry
    granted = (col(entry.kind) == GRANT_ENTRY, col(entry.counterpart_id) == programme_id)
    count = session.scalar(select(func.count()).where(*granted)) or 0
    if count:
        seqs = list(
            session.scalars(select(col(entry.seq)).where(*granted).order_by("seq").limit(5))
        )
        shown = ", ".join(str(s) for s in seqs) + (", …" if count > len(seqs) else "")
        raise FailedPrecondition(
            f"aid programme {programme_id} has {count} grants in the ledger (entries {shown}): "
            "archive it instead (update archived = true); it cannot be deleted"
        )


def _county_of(session: Session, village_id: str) -> str:
    village = session.get(models.Village, village_id)
    if village is None:
        raise NotFound(f"village {village_id!r} not found", field="village_id")
    return village.county_code


def _replace_members(session: Session, producer_id: str, members: list[tuple[str, int]]) -> None:
    session.execute(
        delete(models.ProducerMember).where(col(models.ProducerMember.producer_id) == producer_id)
    )
    for household_id, share in members:
        session.add(
            models.ProducerMember(
                producer_id=producer_id, household_id=household_id, share_permille=share
            )
        )


def check_related_references(
    session: Session, kind: Kind, values: Values, households: Any = None
) -> None:
    """A cooperative's members: households that exist and (households, the condition, if
    given) the caller may refer to; NOT_FOUND naming the member otherwise."""
    if kind is PRODUCER:
        for i, (household_id, _) in enumerate(values["_members"]):
            within = households if households is not None else sa_true()
            stmt = select(col(models.Household.id)).where(
                col(models.Household.id) == household_id, within
            )
            if session.scalars(stmt).first() is None:
                raise NotFound(
                    f"household {household_id!r} not found", field=f"members[{i}].household_id"
                )


def _with_related(owner: Any, related: Any, key: Any, *order: Any) -> Select[Any]:
    """An owner row joined to its related rows (or to one NULL row when it has none)."""
    return (
        select(owner, related)
        .outerjoin(related, key == owner.id)
        .where(owner.id == bindparam("id"))
        .order_by(*order)
    )


# Built once: building and cache-keying a join costs more than a Get's query on SQLite.
_LOAD_WITH_RELATED: Mapping[str, Select[Any]] = MappingProxyType(
    {
        HOUSEHOLD.name: _with_related(
            models.Household,
            models.StatusChange,
            col(models.StatusChange.household_id),
            col(models.StatusChange.time),
            col(models.StatusChange.id),
        ),
        PRODUCER.name: _with_related(
            models.Producer,
            models.ProducerMember,
            col(models.ProducerMember.producer_id),
            col(models.ProducerMember.household_id),
        ),
    }
)


def load_one(session: Session, kind: Kind, resource_id: str) -> tuple[Any, list[Any]] | None:
    """A row and the rows that belong to it, read in one statement; None if there is no row."""
    stmt = _LOAD_WITH_RELATED.get(kind.name)
    if stmt is None:
        row = session.get(kind.table, resource_id)
        return None if row is None else (row, [])
    rows = session.execute(stmt, {"id": resource_id}).all()
    if not rows:
        return None
    return rows[0][0], [related for _, related in rows if related is not None]


def load_related(session: Session, kind: Kind, ids: Sequence[str]) -> dict[str, list[Any]]:
    """Rows that belong to each id: status history or cooperative members."""
    out: dict[str, list[Any]] = defaultdict(list)
    if not ids or kind not in (HOUSEHOLD, PRODUCER):
        return out
    if kind is HOUSEHOLD:
        table: Any = models.StatusChange.__table__  # type: ignore[attr-defined]
        stmt = (
            select(table)
            .where(db.one_of(session, table.c.household_id, list(ids)))
            .order_by(table.c.time, table.c.id)
        )
        for change in session.execute(stmt):  # plain rows: read by column name, never written
            out[change.household_id].append(change)
    else:
        table = models.ProducerMember
        stmt = (
            select(table)
            .where(db.one_of(session, table.producer_id, list(ids)))
            .order_by(table.household_id)
        )
        for member in session.scalars(stmt):
            out[member.producer_id].append(member)
    return out
