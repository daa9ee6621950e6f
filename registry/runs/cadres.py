"""Cadre runs in the registry: what a stationing or contracting run reads, and its commit.

A run keeps, per cadre it would change, the cadre's version as it read it (``run_cadre_item``).
The commit locks those cadre rows in id order (FOR UPDATE on PostgreSQL; SQLite's write lock is
taken at BEGIN), checks every version, then writes postings (``cadre.current_village_id``) or
contracts (``household_contract``) and their ledger entries in the same transaction, bumping
the versions it touched. Two runs that read one cadre can therefore never both commit: the
second finds the version moved and is ABORTED, naming the cadres as ``cadres[ID]``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlmodel import Session, col

from registry.access import scopes
from registry.access.policy import INTERNAL, Principal
from registry.errors import Aborted, FailedPrecondition, FieldViolation, PermissionDenied
from registry.ledger import chain as ledger
from registry.resources import models
from registry.resources.bulk import QUERY_CHUNK, bulk_insert
from registry.resources.kinds import CADRE
from registry.resources.store import RegistryStore
from registry.runs.commit import commit, lock_rows
from registry.runs.data import (
    INLINE,
    CadreItem,
    CadreRow,
    ContractingData,
    HouseholdRow,
    StationingData,
    VillageRow,
)
from registry.runs.records import run_rows, settle

STATIONING_KIND = 3  # fupin.matcher.v1.RunKind.CADRE_STATIONING
CONTRACTING_KIND = 4  # fupin.matcher.v1.RunKind.CADRE_CONTRACTING
CADRE_KINDS = (STATIONING_KIND, CONTRACTING_KIND)
POOR_VILLAGE = 1  # VillagePovertyStatus.VILLAGE_POOR
POOR_STATUSES = (1, 2, 4)  # HouseholdStatus: impoverished, at risk, returned to poverty


def stationing_data(
    store: RegistryStore, *, region_code: str = "", reader: Principal = INTERNAL
) -> StationingData:
    """Poor villages of the region with their poor households' causes, and the available cadres
    that are unposted or posted in the region, among those the reader may post (an office:
    registry/access/scopes.py)."""
    vil, hh = models.Village, models.Household
    in_region = col(vil.admin_code).startswith(region_code)
    with store.transaction() as session:
        villages = list(
            session.scalars(
                select(vil)
                .where(col(vil.poverty_status) == POOR_VILLAGE, in_region)
                .order_by(col(vil.id))
            )
        )
        causes: dict[str, list[tuple[int, ...]]] = defaultdict(list)
        rows = session.execute(
            select(col(hh.village_id), col(hh.causes))
            .join(vil, col(vil.id) == col(hh.village_id))
            .where(col(hh.status).in_(POOR_STATUSES), in_region)
        )
        for village_id, household_causes in rows:
            causes[village_id].append(tuple(household_causes))
        cadres = _cadres(session, region_code, scopes.clause(CADRE, reader, write=True))
    return StationingData(
        villages=tuple(
            VillageRow(v.id, v.latitude, v.longitude, tuple(v.needs), tuple(causes.get(v.id, ())))
            for v in villages
        ),
        cadres=tuple(_cadre_row(c) for c in cadres),
    )


def contracting_data(
    store: RegistryStore, *, region_code: str = "", reader: Principal = INTERNAL
) -> ContractingData:
    """Poor households of the region (at their village's location) and the available cadres
    unposted or posted in the region, located at their posting, among those the reader may
    post (an office: registry/access/scopes.py)."""
    vil, hh = models.Village, models.Household
    with store.transaction() as session:
        households = session.execute(
            select(
                col(hh.id),
                col(hh.village_id),
                col(vil.latitude),
                col(vil.longitude),
                col(hh.status),
                col(hh.causes),
            )
            .join(vil, col(vil.id) == col(hh.village_id))
            .where(col(hh.status).in_(POOR_STATUSES), col(vil.admin_code).startswith(region_code))
            .order_by(col(hh.id))
        ).all()
        cadres = _cadres(session, region_code, scopes.clause(CADRE, reader, write=True))
        posted = {c.current_village_id for c in cadres if c.current_village_id}
        where = {i: (lat, lng) for i, lat, lng in _places(session, posted)}
    rows = []
    for c in cadres:
        row = _cadre_row(c)
        if c.current_village_id in where:
            lat, lng = where[c.current_village_id]
            row = CadreRow(**{**row.__dict__, "latitude": lat, "longitude": lng})
        rows.append(row)
    return ContractingData(
        cadres=tuple(rows),
        households=tuple(
            HouseholdRow(i, v, lat, lng, status, len(causes))
            for i, v, lat, lng, status, causes in households
        ),
    )


def _places(session: Session, village_ids: set[str]) -> list[tuple[str, float, float]]:
    vil = models.Village
    ids = sorted(village_ids)
    out: list[tuple[str, float, float]] = []
    for start in range(0, len(ids), QUERY_CHUNK):
        stmt = select(col(vil.id), col(vil.latitude), col(vil.longitude)).where(
            col(vil.id).in_(ids[start : start + QUERY_CHUNK])
        )
        out.extend((i, lat, lng) for i, lat, lng in session.execute(stmt))
    return out


def _cadres(session: Session, region_code: str, postable: Any = None) -> list[models.Cadre]:
    cad, vil = models.Cadre, models.Village
    stmt = (
        select(cad)
        .outerjoin(vil, col(vil.id) == col(cad.current_village_id))
        .where(
            col(cad.available).is_(True),
            or_(col(cad.current_village_id).is_(None), col(vil.admin_code).startswith(region_code)),
        )
        .order_by(col(cad.id))
    )
    if postable is not None:
        stmt = stmt.where(postable)
    return list(session.scalars(stmt))


def _cadre_row(c: models.Cadre) -> CadreRow:
    return CadreRow(
        id=c.id,
        rank=c.rank,
        skills=tuple(c.skills),
        home_unit=c.home_unit,
        latitude=c.latitude,
        longitude=c.longitude,
        max_distance_km=c.max_distance_km,
        current_village_id=c.current_village_id,
        pinned=c.pinned,
        version=c.version,
        contract_quota=c.contract_quota,
    )


def finish_run(
    store: RegistryStore, run_id: str, *, items: Sequence[CadreItem], **fields: Any
) -> models.MatchRun:
    """Store a cadre run's outcome and the changes a commit would make, in one transaction
    (so a PROPOSED run always has its items); safe to retry (registry/runs/records.py settle)."""
    with store.transaction(write=True) as session:
        rows = [{"run_id": run_id, **item.__dict__} for item in items]
        return settle(session, run_id, fields, models.RunCadreItem, rows)


def commit_cadres(
    store: RegistryStore,
    run_id: str,
    *,
    request_id: str = "",
    etag: str = "",
    reader: Principal = INTERNAL,
) -> models.MatchRun:
    """Apply a proposed stationing or contracting run, all of it or nothing (module doc). The
    committer (`reader`) must be allowed to post every cadre the run names (to a village or a
    household): PERMISSION_DENIED naming each `cadres[ID]` it may not, and nothing changes."""
    apply = partial(_apply, reader)
    return commit(store, run_id, CADRE_KINDS, apply, request_id=request_id, etag=etag)


def _apply(reader: Principal, session: Session, run: models.MatchRun) -> list[ledger.Entry]:
    items: list[models.RunCadreItem] = run_rows(session, models.RunCadreItem, run.id)
    if any(i.cadre_version == INLINE for i in items):
        raise FailedPrecondition(
            f"run {run.id} solved an inline problem; only registry selections can be committed"
        )
    current = _lock_and_check(session, items)
    _check_postable(session, reader, items)
    if run.kind == STATIONING_KIND:
        return _post(session, run.id, items, current)
    return _contract(session, run.id, items)


def _lock_and_check(
    session: Session, items: Sequence[models.RunCadreItem]
) -> dict[str, str | None]:
    """Lock the cadres' rows in id order (no deadlock between concurrent commits) and check
    each is as the run read it. Returns each cadre's current posting."""
    seen = {i.cadre_id: i.cadre_version for i in items}
    ids = sorted(seen)
    found = lock_rows(session, models.Cadre, ("version", "current_village_id"), ids)
    violations = []
    for cadre_id in ids:
        if cadre_id not in found:
            violations.append(FieldViolation(f"cadres[{cadre_id}]", "no longer exists"))
        elif found[cadre_id][0] != seen[cadre_id]:
            violations.append(
                FieldViolation(
                    f"cadres[{cadre_id}]",
                    f"changed since the run read it (version {seen[cadre_id]}, "
                    f"now {found[cadre_id][0]})",
                )
            )
    if violations:
        names = ", ".join(v.field for v in violations[:10])
        raise Aborted(f"the registry changed; the run no longer applies: {names}", violations)
    return {i: posting for i, (_, posting) in found.items()}


def _check_postable(
    session: Session, reader: Principal, items: Sequence[models.RunCadreItem]
) -> None:
    """Refuse the commit if the reader may not post one of the run's cadres
    (registry/access/scopes.py:
    an office posts the cadres of its region and those serving in its villages)."""
    outside = sorted(scopes.cadre_ids_outside(session, reader, {i.cadre_id for i in items}))
    if outside:
        why = f"lies outside this key's scope {reader.scope!r}"
        violations = [FieldViolation(f"cadres[{c}]", why) for c in outside]
        names = ", ".join(v.field for v in violations[:10])
        raise PermissionDenied(f"this key may not post {names}", violations)


def _post(
    session: Session,
    run_id: str,
    items: Sequence[models.RunCadreItem],
    current: dict[str, str | None],
) -> list[ledger.Entry]:
    """Move the cadres whose posting changes; a ledger entry per move (quantity 1 = posted,
    0 = released)."""
    moves = [i for i in items if (i.village_id or None) != current[i.cadre_id]]
    if moves:
        cad = models.Cadre
        stmt = (
            update(cad)
            .where(col(cad.id) == bindparam("cid"))
            .values(
                current_village_id=bindparam("vid"),
                version=col(cad.version) + 1,
                update_time=bindparam("now"),
            )
        )
        now = models.utcnow()
        session.connection().execute(
            stmt, [{"cid": m.cadre_id, "vid": m.village_id or None, "now": now} for m in moves]
        )
    return [
        ledger.Entry(
            kind="cadre_posting",
            run_id=run_id,
            subject_id=m.cadre_id,
            counterpart_id=m.village_id,
            quantity=1 if m.village_id else 0,
        )
        for m in sorted(moves, key=lambda m: m.cadre_id)
    ]


def _contract(
    session: Session, run_id: str, items: Sequence[models.RunCadreItem]
) -> list[ledger.Entry]:
    """Replace the households' contracts and bump the cadres' versions (a contracting run
    read them, so a second run over the same cadres must not also commit)."""
    households = sorted(i.household_id for i in items)
    hh, hc = models.Household, models.HouseholdContract
    existing: set[str] = set()
    for start in range(0, len(households), QUERY_CHUNK):
        chunk = households[start : start + QUERY_CHUNK]
        existing.update(session.scalars(select(col(hh.id)).where(col(hh.id).in_(chunk))))
        session.execute(delete(hc).where(col(hc.household_id).in_(chunk)))
    gone = [h for h in households if h not in existing]
    if gone:
        violations = [FieldViolation(f"households[{h}]", "no longer exists") for h in gone]
        names = ", ".join(gone[:10])
        raise Aborted(f"the registry changed: households {names} are gone", violations)
    now = models.utcnow()
    bulk_insert(
        session,
        hc,
        [
            {"household_id": i.household_id, "cadre_id": i.cadre_id, "run_id": run_id, "time": now}
            for i in items
        ],
    )
    cad = models.Cadre
    stmt = (
        update(cad)
        .where(col(cad.id) == bindparam("cid"))
        .values(version=col(cad.version) + 1, update_time=bindparam("now"))
    )
    cadre_ids = sorted({i.cadre_id for i in items})
    if cadre_ids:
        session.connection().execute(stmt, [{"cid": c, "now": now} for c in cadre_ids])
    return [
        ledger.Entry(
            kind="household_contract",
            run_id=run_id,
            subject_id=i.household_id,
            counterpart_id=i.cadre_id,
            quantity=1,
        )
        for i in sorted(items, key=lambda i: i.household_id)
    ]


def contracts(store: RegistryStore) -> dict[str, str]:
    """Household id → cadre id of every contract."""
    hc = models.HouseholdContract
    with store.transaction() as session:
        rows = session.execute(select(col(hc.household_id), col(hc.cadre_id)))
        return {household_id: cadre_id for household_id, cadre_id in rows}
