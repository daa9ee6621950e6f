"""Members' deliveries: the kilograms each member household brought into its cooperative's
listing, the weights of a payout by delivered kilogram (registry/season/payments.py).

The model, the simplest that is honest: the cooperative pools its members' produce into a
listing and records, per listing, how many kilograms each member delivered (at most the
listing's quantity; recording a listing again replaces its figures). A payout by delivered
kilogram splits its amount over every member by the kilograms it delivered into all the
cooperative's listings — a pool: a member's kilograms count whether its plums went into the
shipment the buyer accepted or the one it rejected, as a cooperative that pools its members'
harvest pays them. Members who delivered nothing get nothing from such a payout.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from registry.access import scopes
from registry.access.policy import Principal
from registry.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from registry.resources import models
from registry.resources.kinds import LISTING
from registry.resources.store import RegistryStore, remember, replayed
from registry.season.models import MemberDelivery

COOPERATIVE = 2  # fupin.registry.v1.ProducerKind.PRODUCER_COOPERATIVE
MAX_DELIVERIES = 10_000


def record_deliveries(
    store: RegistryStore,
    listing_id: str,
    deliveries: Sequence[tuple[str, int]],
    *,
    reader: Principal,
    request_id: str,
    fingerprint: str,
) -> list[tuple[str, int]]:
    """Replace the listing's deliveries by these (household id, kg), in household id order."""
    _check(deliveries)
    try:
        with store.transaction(write=True) as session:
            listing = _locked_listing(session, listing_id, reader)
            if request_id and replayed(session, request_id, fingerprint) is not None:
                return delivered(session, listing_id)
            members = _members(session, listing.producer_id)
            bad = [
                FieldViolation(
                    f"deliveries[{i}].household_id",
                    f"is not a member of cooperative {listing.producer_id}",
                )
                for i, (hh, _kg) in enumerate(deliveries)
                if hh not in members
            ]
            total = sum(kg for _hh, kg in deliveries)
            if total > listing.quantity_kg:
                bad.append(
                    FieldViolation(
                        "deliveries",
                        f"add up to {total} kg, more than the listing's {listing.quantity_kg} kg",
                    )
                )
            if bad:
                raise InvalidArgument(bad)
            session.execute(
                delete(MemberDelivery).where(col(MemberDelivery.listing_id) == listing_id)
            )
            now = models.utcnow()
            rows = [
                {
                    "listing_id": listing_id,
                    "household_id": hh,
                    "producer_id": listing.producer_id,
                    "kg": kg,
                    "update_time": now,
                }
                for hh, kg in deliveries
            ]
            if rows:
                session.execute(insert(MemberDelivery), rows)
            if request_id:
                remember(session, request_id, "RecordDeliveries", fingerprint, [listing_id])
            return delivered(session, listing_id)
    except IntegrityError as exc:
        raise AlreadyExists("request_id is in use by another request", field="request_id") from exc


def delivered(session: Session, listing_id: str) -> list[tuple[str, int]]:
    stmt = (
        select(col(MemberDelivery.household_id), col(MemberDelivery.kg))
        .where(col(MemberDelivery.listing_id) == listing_id)
        .order_by(col(MemberDelivery.household_id))
    )
    return [(hh, int(kg)) for hh, kg in session.execute(stmt)]


def delivered_by_member(session: Session, producer_id: str) -> dict[str, int]:
    """Each member's kilograms delivered into all the cooperative's listings (none: left out)."""
    stmt = (
        select(col(MemberDelivery.household_id), func.sum(MemberDelivery.kg))
        .where(col(MemberDelivery.producer_id) == producer_id)
        .group_by(col(MemberDelivery.household_id))
    )
    return {hh: int(kg) for hh, kg in session.execute(stmt) if kg}


def _locked_listing(session: Session, listing_id: str, reader: Principal) -> models.Listing:
    stmt = select(models.Listing).where(col(models.Listing.id) == listing_id)
    condition = scopes.clause(LISTING, reader, write=True)
    if condition is not None:
        stmt = stmt.where(condition)
    listing = session.scalars(stmt.with_for_update()).first()
    if listing is None:
        raise NotFound(f"listing {listing_id} not found", field="listing_id")
    return listing


def _members(session: Session, producer_id: str) -> set[str]:
    kind = session.scalar(
        select(col(models.Producer.kind)).where(col(models.Producer.id) == producer_id)
    )
    if kind != COOPERATIVE:
        raise FailedPrecondition(f"producer {producer_id} is not a cooperative")
    stmt = select(col(models.ProducerMember.household_id)).where(
        col(models.ProducerMember.producer_id) == producer_id
    )
    return set(session.scalars(stmt))


def _check(deliveries: Sequence[tuple[str, int]]) -> None:
    bad = []
    if len(deliveries) > MAX_DELIVERIES:
        bad.append(FieldViolation("deliveries", f"at most {MAX_DELIVERIES}"))
    seen: set[str] = set()
    for i, (hh, kg) in enumerate(deliveries):
        if kg <= 0:
            bad.append(FieldViolation(f"deliveries[{i}].kg", "must be positive"))
        if hh in seen:
            bad.append(FieldViolation(f"deliveries[{i}].household_id", "is listed twice"))
        seen.add(hh)
    if bad:
        raise InvalidArgument(bad)
