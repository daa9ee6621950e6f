"""The recall of a cadre (召回): its posting and households released, the reason kept.

In one transaction: the cadre row is locked, checked available, marked unavailable with its
posting cleared and its version bumped (so a proposed run that read it can no longer commit);
its household contracts are deleted; ledger entries record each release as the commits'
kinds do (cadre_posting with quantity 0, counterpart the village it leaves;
household_contract with quantity 0, subject the household, counterpart the cadre), with the
recall's id as their run id. A contracting run over the region then covers the households
(registry/runs/cadres.py contracting_data reads available cadres only).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlmodel import col

from registry.access.policy import Principal, Role
from registry.access.scopes import villages_in
from registry.cadrework.models import CadreRecall
from registry.cadrework.visits import cadre_in_scope
from registry.errors import FailedPrecondition
from registry.ledger import chain as ledger
from registry.resources import models
from registry.resources.query import Page, next_token
from registry.resources.store import RegistryStore, new_id


def recall(
    store: RegistryStore, *, cadre_id: str, reason: str, principal: Principal, request_id: str = ""
) -> CadreRecall:
    """Recall the cadre (module doc); a retry with the same request id returns the first."""
    with store.transaction(write=True) as session:
        if request_id:
            earlier = session.scalars(
                select(CadreRecall).where(
                    col(CadreRecall.request_id) == request_id,
                    col(CadreRecall.key_id) == principal.key_id,
                )
            ).first()
            if earlier is not None:
                return earlier
        cadre_in_scope(session, principal, cadre_id)
        cadre = session.get(models.Cadre, cadre_id, with_for_update=True)
        assert cadre is not None  # in scope a moment ago, and cadres are locked before deletes
        if not cadre.available:
            raise FailedPrecondition(f"cadre {cadre_id} is not available (already recalled?)")
        hc = models.HouseholdContract
        households = sorted(
            session.scalars(select(col(hc.household_id)).where(col(hc.cadre_id) == cadre_id))
        )
        session.execute(delete(hc).where(col(hc.cadre_id) == cadre_id))
        village = cadre.current_village_id or ""
        now = models.utcnow()
        cadre.current_village_id, cadre.available = None, False
        cadre.version, cadre.update_time = cadre.version + 1, now
        row = CadreRecall(
            id=new_id("recall"),
            cadre_id=cadre_id,
            reason=reason,
            released_village_id=village,
            released_household_ids="\n".join(households),
            key_id=principal.key_id,
            request_id=request_id,
            time=now,
        )
        session.add(row)
        session.flush()
        entries = [
            ledger.Entry(
                kind="household_contract", run_id=row.id, subject_id=h, counterpart_id=cadre_id
            )
            for h in households
        ]
        if village:
            entries.insert(
                0,
                ledger.Entry(
                    kind="cadre_posting", run_id=row.id, subject_id=cadre_id, counterpart_id=village
                ),
            )
        ledger.append(session, entries)
        return row


def list_recalls(
    store: RegistryStore, *, page: Page, principal: Principal, cadre_id: str = ""
) -> tuple[list[CadreRecall], str]:
    """One page of recalls, newest first, of cadres whose home region lies in the key's scope
    or whose released posting does (a recalled cadre serves nowhere any more)."""
    stmt = select(CadreRecall).order_by(col(CadreRecall.id).desc()).limit(page.size + 1)
    if cadre_id:
        stmt = stmt.where(col(CadreRecall.cadre_id) == cadre_id)
    if principal.scope and principal.role is not Role.ADMIN:
        home = select(col(models.Cadre.id)).where(
            col(models.Cadre.home_region_code).startswith(principal.scope, autoescape=True)
        )
        stmt = stmt.where(
            col(CadreRecall.cadre_id).in_(home)
            | col(CadreRecall.released_village_id).in_(villages_in(principal.scope))
        )
    if page.after:
        stmt = stmt.where(col(CadreRecall.id) < page.after)
    with store.transaction() as session:
        rows = list(session.scalars(stmt))
    token = next_token(page, rows[page.size - 1].id) if len(rows) > page.size else ""
    return rows[: page.size], token
