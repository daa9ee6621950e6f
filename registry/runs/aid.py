"""Aid runs in the registry: the households and programmes a run reads, its grants, the commit.

The commit writes one ledger entry per grant and adds the grants to the programmes' spent_fen
in one transaction. The programme rows are locked in id order (FOR UPDATE on PostgreSQL;
SQLite's write lock is taken at BEGIN) and checked before anything is written, so concurrent
commits over one programme serialize and never overspend; the CHECK constraint
spent_fen <= budget_fen is the last guard.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlmodel import Session, col

from registry.access import scopes
from registry.access.policy import INTERNAL, Principal
from registry.errors import Aborted, FailedPrecondition, FieldViolation, NotFound
from registry.ledger import chain as ledger
from registry.resources import models
from registry.resources.bulk import QUERY_CHUNK
from registry.resources.kinds import AID_PROGRAM
from registry.resources.store import RegistryStore
from registry.runs.commit import add_amounts, commit, locked_shortfalls
from registry.runs.data import (
    ACTIVE,
    AidHouseholdRecord,
    AidInputs,
    AidProgrammeRecord,
    GrantRecord,
    RunState,
)
from registry.runs.records import locked_run, replace_rows, run_rows

AID_KIND = 2  # fupin.matcher.v1.RunKind.AID
GRANT_ENTRY = ledger.GRANT_ENTRY


def aid_inputs(
    store: RegistryStore,
    *,
    region_code: str,
    programme_ids: Sequence[str],
    field: str,
    reader: Principal = INTERNAL,
) -> AidInputs:
    """The programmes asked for (NOT_FOUND naming `field[i]` for one missing, or that the
    reader's scope does not show) and every household in the region, in one snapshot."""
    hh, vil, prog = models.Household, models.Village, models.AidProgram
    households = (
        select(col(hh.id), col(vil.admin_code), col(hh.status), col(hh.score), col(hh.causes))
        .join(vil, col(vil.id) == col(hh.village_id))
        .order_by(col(hh.id))
    )
    if region_code:
        households = households.where(col(vil.admin_code).startswith(region_code))
    with store.transaction() as session:
        programmes = select(prog).where(col(prog.id).in_(programme_ids))
        readable = scopes.clause(AID_PROGRAM, reader)
        if readable is not None:
            programmes = programmes.where(readable)
        found = {p.id: p for p in session.scalars(programmes)}
        for i, ident in enumerate(programme_ids):
            if ident not in found:
                raise NotFound(f"aid programme {ident!r} not found", field=f"{field}[{i}]")
            if found[ident].archived:
                raise FailedPrecondition(
                    f"aid programme {ident} ({field}[{i}]) is archived: it takes no new grants"
                )
        rows = session.execute(households).all()
        held = _held(session, list(programme_ids))
    return AidInputs(
        households=[
            AidHouseholdRecord(hid, code, status, score, tuple(causes))
            for hid, code, status, score, causes in rows
        ],
        programmes=[_programme(found[ident]) for ident in programme_ids],
        held=held,
    )


def _held(
    session: Session, programme_ids: list[str], household_ids: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """(household, programme) pairs the ledger already records a grant for, among these
    programmes (and these households, if given)."""
    entry = models.LedgerEntry
    stmt = select(col(entry.subject_id), col(entry.counterpart_id)).where(
        col(entry.kind) == GRANT_ENTRY, col(entry.counterpart_id).in_(programme_ids)
    )
    if not household_ids:
        return [(h, p) for h, p in session.execute(stmt)]
    out: list[tuple[str, str]] = []
    for start in range(0, len(household_ids), QUERY_CHUNK):
        chunk = household_ids[start : start + QUERY_CHUNK]
        out += [(h, p) for h, p in session.execute(stmt.where(col(entry.subject_id).in_(chunk)))]
    return out


def _programme(row: models.AidProgram) -> AidProgrammeRecord:
    return AidProgrammeRecord(
        id=row.id,
        budget_fen=row.budget_fen,
        spent_fen=row.spent_fen,
        amount_fen=row.amount_fen,
        min_amount_fen=row.min_amount_fen,
        step_fen=row.step_fen,
        causes=tuple(row.causes),
        eligible_statuses=tuple(row.eligible_statuses),
        region_code=row.region_code,
    )


def store_grants(store: RegistryStore, run_id: str, grants: Sequence[GrantRecord]) -> None:
    """Keep a run's grants for its commit (stored before the run becomes PROPOSED).

    Safe to retry: the grants replace any an earlier attempt stored. Once the run has ended
    its grants are what it proposed: FAILED_PRECONDITION."""
    with store.transaction(write=True) as session:
        run = locked_run(session, run_id)
        if run.state not in ACTIVE:
            state = RunState(run.state).name
            raise FailedPrecondition(f"run {run_id} is {state}: its grants can no longer change")
        replace_rows(
            session,
            models.RunGrant,
            run_id,
            [{"run_id": run_id, "household_id": g.household_id,
              "programme_id": g.programme_id, "amount_fen": g.amount_fen}
             for g in grants if g.amount_fen > 0],
        )  # fmt: skip


def commit_aid(
    store: RegistryStore, run_id: str, *, request_id: str = "", etag: str = ""
) -> models.MatchRun:
    """Grant a proposed aid run's allocation, all of it or nothing; idempotent by request_id."""
    return commit(store, run_id, (AID_KIND,), _apply, request_id=request_id, etag=etag)


def _apply(session: Session, run: models.MatchRun) -> list[ledger.Entry]:
    grants: list[models.RunGrant] = run_rows(session, models.RunGrant, run.id)
    _spend(session, grants)
    return [
        ledger.Entry(
            kind=GRANT_ENTRY,
            run_id=run.id,
            subject_id=g.household_id,
            counterpart_id=g.programme_id,
            amount_fen=g.amount_fen,
        )
        for g in grants
    ]


def _spend(session: Session, grants: Sequence[models.RunGrant]) -> None:
    """Lock the programmes, check that every budget still fits and that every household still
    exists, then add the grants to spent_fen. Aborted names each programme or household."""
    want: dict[str, int] = defaultdict(int)
    for g in grants:
        want[g.programme_id] += g.amount_fen
    short = locked_shortfalls(
        session, models.AidProgram, "budget_fen", "spent_fen", want, "programmes", "fen"
    )
    archived = select(col(models.AidProgram.id)).where(
        col(models.AidProgram.id).in_(sorted(want)), col(models.AidProgram.archived)
    )  # rows locked above
    short += [
        FieldViolation(f"programmes[{p}]", "was archived: it takes no new grants")
        for p in session.scalars(archived.order_by(col(models.AidProgram.id)))
    ]
    households = sorted({g.household_id for g in grants})
    short += _missing_households(session, households)
    # Under the programme locks: no concurrent commit can grant these programmes meanwhile.
    granted = {(g.household_id, g.programme_id) for g in grants}
    short += [
        FieldViolation(f"households[{h}]", f"already holds a grant of programme {p}")
        for h, p in sorted(set(_held(session, sorted(want), households)) & granted)
    ]
    if short:
        names = ", ".join(v.field for v in short[:10])
        raise Aborted(f"the registry changed; the grants no longer fit: {names}", short)
    add_amounts(session, models.AidProgram, "spent_fen", want)


def _missing_households(session: Session, ids: list[str]) -> list[FieldViolation]:
    found: set[str] = set()
    for start in range(0, len(ids), QUERY_CHUNK):
        chunk = ids[start : start + QUERY_CHUNK]
        found.update(
            session.scalars(
                select(col(models.Household.id)).where(col(models.Household.id).in_(chunk))
            )
        )
    return [FieldViolation(f"households[{h}]", "no longer exists") for h in ids if h not in found]
