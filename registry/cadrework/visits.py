"""Visit logs (帮扶日志): a cadre's visits to the households contracted to it.

Only the cadre's office region writes and reads them: the key must be allowed to post the
cadre (registry/access/scopes.py, CADRE with write), else the cadre is NOT_FOUND as an unknown
one. A visit needs the household to be contracted to the cadre when it is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from registry.access import scopes
from registry.access.policy import Principal
from registry.cadrework.models import CadreVisit
from registry.errors import FailedPrecondition, NotFound
from registry.resources import models
from registry.resources.kinds import CADRE
from registry.resources.query import Page, next_token
from registry.resources.store import RegistryStore, new_id


@dataclass(frozen=True)
class Visit:
    cadre_id: str
    household_id: str
    date: str
    done: str
    follow_up: str
    request_id: str = ""


def cadre_in_scope(session: Session, principal: Principal, cadre_id: str) -> models.Cadre:
    """The cadre, if the key's region holds it (its home region or the village it serves in);
    NOT_FOUND otherwise, as for an unknown cadre."""
    stmt = select(models.Cadre).where(col(models.Cadre.id) == cadre_id)
    region = scopes.clause(CADRE, principal, write=True)
    if region is not None:
        stmt = stmt.where(region)
    cadre = session.scalars(stmt).first()
    if cadre is None:
        raise NotFound(f"cadre {cadre_id} not found", field="cadre_id")
    return cadre


def record(store: RegistryStore, visit: Visit, principal: Principal) -> CadreVisit:
    """Store a visit of a contracted household; a retry with the same request id returns the
    first one."""
    with store.transaction(write=True) as session:
        cadre_in_scope(session, principal, visit.cadre_id)
        if visit.request_id:
            earlier = session.scalars(
                select(CadreVisit).where(
                    col(CadreVisit.request_id) == visit.request_id,
                    col(CadreVisit.key_id) == principal.key_id,
                )
            ).first()
            if earlier is not None:
                return earlier
        contract = session.get(models.HouseholdContract, visit.household_id)
        if contract is None or contract.cadre_id != visit.cadre_id:
            raise FailedPrecondition(
                f"household {visit.household_id} is not contracted to cadre {visit.cadre_id}"
            )
        row = CadreVisit(
            id=new_id("visit"),
            cadre_id=visit.cadre_id,
            household_id=visit.household_id,
            date=visit.date,
            done=visit.done,
            follow_up=visit.follow_up,
            key_id=principal.key_id,
            request_id=visit.request_id,
            create_time=models.utcnow(),
        )
        session.add(row)
        session.flush()
        return row


def list_visits(
    store: RegistryStore,
    *,
    page: Page,
    principal: Principal,
    cadre_id: str = "",
    household_id: str = "",
) -> tuple[list[CadreVisit], str]:
    """One page of visits, newest recorded first, of cadres in the key's region."""
    stmt = select(CadreVisit).order_by(col(CadreVisit.id).desc()).limit(page.size + 1)
    if cadre_id:
        stmt = stmt.where(col(CadreVisit.cadre_id) == cadre_id)
    if household_id:
        stmt = stmt.where(col(CadreVisit.household_id) == household_id)
    region = scopes.clause(CADRE, principal, write=True)
    if region is not None:
        stmt = stmt.where(col(CadreVisit.cadre_id).in_(select(col(models.Cadre.id)).where(region)))
    if page.after:
        stmt = stmt.where(col(CadreVisit.id) < page.after)
    with store.transaction() as session:
        if cadre_id:
            cadre_in_scope(session, principal, cadre_id)
        rows = list(session.scalars(stmt))
    token = next_token(page, rows[page.size - 1].id) if len(rows) > page.size else ""
    return rows[: page.size], token
