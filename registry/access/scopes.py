"""What a key's scope lets it see and change, as SQL conditions applied inside the queries.

Lists carry the condition in their WHERE clause (so page sizes, tokens and the absence of a
next page say nothing about rows outside the scope); a Get, Update or Delete of a row outside
the scope fails exactly as for an unknown id (NOT_FOUND); a Create or an Update whose result
would lie outside the scope is refused with PERMISSION_DENIED and stores nothing.

- admin: no scope, everything;
- office: an administrative code prefix: the villages, households, producers, listings and aid
  programmes there; it reads every cadre, and posts (write) those whose home region lies in
  its scope or that serve in one of its villages;
- auditor: the same as an office, read only (everything when the scope is empty);
- cooperative: its producer id: that producer and its listings;
- platform: its buyer id: that buyer and its orders.

Resources this list does not name are not narrowed (villages, producers and listings for a
platform; cadres read by offices and auditors); whether the role may call the RPC at all is
registry/access/policy.py's POLICY.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, literal, or_, select
from sqlmodel import col

from registry.access.policy import Principal, Role
from registry.resources import models
from registry.resources.bulk import QUERY_CHUNK
from registry.resources.kinds import (
    AID_PROGRAM,
    BUYER,
    CADRE,
    HOUSEHOLD,
    LISTING,
    ORDER,
    PRODUCER,
    VILLAGE,
    Kind,
)

Clause = ColumnElement[bool]
REGIONAL = (Role.OFFICE, Role.AUDITOR)


def clause(kind: Kind, principal: Principal, *, write: bool = False) -> Clause | None:
    """The rows of `kind` this principal may read (or, with write, change); None: all."""
    role, scope = principal.role, principal.scope
    if role is Role.ADMIN or (role is Role.AUDITOR and not scope):
        return None
    if role in REGIONAL:
        return _regional(kind, scope, write=write)
    if role is Role.COOPERATIVE:
        owned = {PRODUCER.name: models.Producer.id, LISTING.name: models.Listing.producer_id}
        return _owned(kind, scope, owned)
    return _owned(kind, scope, {BUYER.name: models.Buyer.id, ORDER.name: models.Order.buyer_id})


def _owned(kind: Kind, owner: str, columns: dict[str, Any]) -> Clause | None:
    column = columns.get(kind.name)
    return None if column is None else col(column) == owner


def villages_in(prefix: str) -> Any:
    return select(col(models.Village.id)).where(
        col(models.Village.admin_code).startswith(prefix, autoescape=True)
    )


def households_in(prefix: str) -> Any:
    return select(col(models.Household.id)).where(
        col(models.Household.village_id).in_(villages_in(prefix))
    )


def producers_in(prefix: str) -> Any:
    return select(col(models.Producer.id)).where(_producer_in(prefix))


def _producer_in(prefix: str) -> Clause:
    return or_(
        col(models.Producer.village_id).in_(villages_in(prefix)),
        col(models.Producer.household_id).in_(households_in(prefix)),
    )


def _regional(kind: Kind, prefix: str, *, write: bool) -> Clause | None:
    if kind is VILLAGE:
        return col(models.Village.admin_code).startswith(prefix, autoescape=True)
    if kind is HOUSEHOLD:
        return col(models.Household.village_id).in_(villages_in(prefix))
    if kind is PRODUCER:
        return _producer_in(prefix)
    if kind is LISTING:
        return col(models.Listing.producer_id).in_(producers_in(prefix))
    if kind is AID_PROGRAM:
        region = col(models.AidProgram.region_code)
        within = region.startswith(prefix, autoescape=True)
        # An office reads the programmes that cover its region too (national ones included),
        # but changes only those limited to its region.
        return within if write else or_(within, literal(prefix).startswith(region))
    if kind is CADRE and write:
        # Writing a cadre, for an office, is posting it (a stationing commit).
        return or_(
            col(models.Cadre.home_region_code).startswith(prefix, autoescape=True),
            col(models.Cadre.current_village_id).in_(villages_in(prefix)),
        )
    return None


def village_ids_outside(session: Any, principal: Principal, village_ids: set[str]) -> set[str]:
    """Of these village ids, those the principal may not write households into."""
    return _outside(session, VILLAGE, models.Village, principal, village_ids)


def producer_ids_outside(session: Any, principal: Principal, producer_ids: set[str]) -> set[str]:
    """Of these producer ids, those the principal may not write listings for."""
    return _outside(session, PRODUCER, models.Producer, principal, producer_ids)


def cadre_ids_outside(session: Any, principal: Principal, cadre_ids: set[str]) -> set[str]:
    """Of these cadre ids, those the principal may not post."""
    return _outside(session, CADRE, models.Cadre, principal, cadre_ids)


def _outside(session: Any, kind: Kind, table: Any, principal: Principal, ids: set[str]) -> set[str]:
    if principal.role is Role.COOPERATIVE and kind is PRODUCER:
        return {i for i in ids if i != principal.scope}
    condition = clause(kind, principal, write=True)
    if condition is None or not ids:
        return set()
    wanted, inside = sorted(ids), set()
    for start in range(0, len(wanted), QUERY_CHUNK):
        chunk = wanted[start : start + QUERY_CHUNK]
        inside.update(
            session.scalars(select(col(table.id)).where(col(table.id).in_(chunk), condition))
        )
    return ids - inside
