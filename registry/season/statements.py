"""Users' views of the season: a producer's statement (a cooperative's, with what it paid each
member), a buyer's owed and paid per shipment, and an office's income per village and year.

Reads only. Each view runs in one transaction that, on PostgreSQL, reads one snapshot
(REPEATABLE READ), so its totals and its lines agree even while payments are being recorded.
Every id is checked against the reader's scope first: outside it is NOT_FOUND, as an unknown id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Subquery, func, select, text
from sqlmodel import Session, col

from registry.access import scopes
from registry.access.policy import INTERNAL, Principal
from registry.errors import NotFound
from registry.ledger.reports import region_of
from registry.resources import models
from registry.resources.kinds import BUYER, PRODUCER
from registry.resources.query import Page, next_token
from registry.resources.scoring import Status
from registry.resources.store import RegistryStore
from registry.season import shipments
from registry.season.income import reason_prefix
from registry.season.models import CANCELLED, Dividend, HouseholdIncome, Shipment


@dataclass
class Sales:
    """Kilograms and money of a set of shipments (cancelled ones count nothing)."""

    shipments: int = 0
    sold_kg: int = 0
    sold_fen: int = 0
    received_kg: int = 0
    rejected_kg: int = 0
    owed_fen: int = 0
    paid_fen: int = 0

    def add(self, row: Shipment) -> None:
        if row.state == CANCELLED:
            return
        self.shipments += 1
        self.sold_kg += row.kg
        self.sold_fen += row.kg * row.price_fen
        self.received_kg += row.received_kg
        self.rejected_kg += row.rejected_kg
        self.owed_fen += row.received_kg * row.paid_price_fen
        self.paid_fen += row.paid_fen


@dataclass
class ProducerStatement:
    producer: models.Producer
    members: list[models.ProducerMember]
    listed_kg: int
    totals: Sales
    buyers: list[tuple[str, str, Sales]]  # (buyer id, name, sales), by kg sold, largest first
    rejected: dict[int, int]  # reject reason -> kg
    dividends: dict[str, int]  # household id -> fen paid out (members and past members)


@dataclass
class BuyerStatement:
    buyer: models.Buyer
    totals: Sales
    page: list[Shipment]
    next_page_token: str


@dataclass
class VillageIncome:
    village: models.Village
    households: int = 0
    produce_fen: int = 0
    dividends_fen: int = 0
    aid_fen: int = 0
    changed_status: int = 0
    lifted_out: int = 0
    changed: set[str] = field(default_factory=set, repr=False)


@contextmanager
def _snapshot(store: RegistryStore) -> Iterator[Session]:
    with store.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        yield session


def producer_statement(
    store: RegistryStore, producer_id: str, reader: Principal = INTERNAL, *, year: int = 0
) -> ProducerStatement:
    """The producer's statement; of one season when `year` is given: its listings available
    from that year, their shipments, and the dividends paid in it (the members' income year)."""
    listing, season = models.Listing, str(year)
    of_season = col(listing.available_from).startswith(season) if year else None
    with _snapshot(store) as session:
        stmt = select(models.Producer).where(col(models.Producer.id) == producer_id)
        condition = scopes.clause(PRODUCER, reader)
        if condition is not None:
            stmt = stmt.where(condition)
        producer = session.scalars(stmt).first()
        if producer is None:
            raise NotFound(f"producer {producer_id} not found", field="producer_id")
        members = list(
            session.scalars(
                select(models.ProducerMember)
                .where(col(models.ProducerMember.producer_id) == producer_id)
                .order_by(col(models.ProducerMember.household_id))
            )
        )
        listed_kg = select(func.coalesce(func.sum(listing.quantity_kg), 0)).where(
            col(listing.producer_id) == producer_id
        )
        shipped = select(Shipment).where(col(Shipment.producer_id) == producer_id)
        paid_out = (
            select(col(Dividend.household_id), func.sum(Dividend.amount_fen))
            .where(col(Dividend.producer_id) == producer_id)
            .group_by(col(Dividend.household_id))
        )
        if of_season is not None:
            listed_kg = listed_kg.where(of_season)
            shipped = shipped.join(listing, col(listing.id) == col(Shipment.listing_id)).where(
                of_season
            )
            paid_out = paid_out.where(col(Dividend.year) == year)
        listed = session.scalar(listed_kg)
        rows = session.scalars(shipped).all()
        names = dict(
            session.execute(
                select(col(models.Buyer.id), col(models.Buyer.display_name)).where(
                    col(models.Buyer.id).in_({r.buyer_id for r in rows})
                )
            ).all()
        )
        payouts = session.execute(paid_out).all()
    totals = Sales()
    per_buyer: dict[str, Sales] = defaultdict(Sales)
    rejected: dict[int, int] = defaultdict(int)
    for row in rows:
        totals.add(row)
        per_buyer[row.buyer_id].add(row)
        if row.state != CANCELLED and row.rejected_kg:
            rejected[row.reject_reason] += row.rejected_kg
    buyers = [(b, names.get(b, ""), s) for b, s in per_buyer.items() if s.shipments]
    buyers.sort(key=lambda item: (-item[2].sold_kg, item[0]))
    return ProducerStatement(
        producer=producer,
        members=members,
        listed_kg=int(listed or 0),  # PostgreSQL sums bigints as numeric (Decimal)
        totals=totals,
        buyers=buyers,
        rejected=dict(sorted(rejected.items())),
        dividends={hh: int(fen) for hh, fen in payouts},
    )


def buyer_statement(
    store: RegistryStore, buyer_id: str, page: Page, reader: Principal = INTERNAL
) -> BuyerStatement:
    """The buyer's shipments the reader sees (registry/season/shipments.py readable), a page of
    them in id order, and the totals over all of them."""
    with _snapshot(store) as session:
        stmt = select(models.Buyer).where(col(models.Buyer.id) == buyer_id)
        condition = scopes.clause(BUYER, reader)
        if condition is not None:
            stmt = stmt.where(condition)
        buyer = session.scalars(stmt).first()
        if buyer is None:
            raise NotFound(f"buyer {buyer_id} not found", field="buyer_id")
        seen = select(Shipment).where(col(Shipment.buyer_id) == buyer_id)
        visible = shipments.readable(reader)
        if visible is not None:
            seen = seen.where(visible)
        totals = _sums(session, seen.subquery())
        if page.after:
            seen = seen.where(col(Shipment.id) > page.after)
        rows = list(session.scalars(seen.order_by(col(Shipment.id)).limit(page.size + 1)))
    more = len(rows) > page.size
    rows = rows[: page.size]
    token = next_token(page, rows[-1].id) if more else ""
    return BuyerStatement(buyer, totals, rows, token)


def _sums(session: Session, seen: Subquery) -> Sales:
    s = seen.c
    live = s.state != CANCELLED
    zero = func.coalesce
    count, kg, received, rejected, owed, paid = session.execute(
        select(
            func.count(),
            zero(func.sum(s.kg), 0),
            zero(func.sum(s.received_kg), 0),
            zero(func.sum(s.rejected_kg), 0),
            zero(func.sum(s.received_kg * s.paid_price_fen), 0),
            zero(func.sum(s.paid_fen), 0),
        ).where(live)
    ).one()
    return Sales(
        shipments=int(count),
        sold_kg=int(kg),
        received_kg=int(received),
        rejected_kg=int(rejected),
        owed_fen=int(owed),
        paid_fen=int(paid),
    )


def village_income(
    store: RegistryStore,
    *,
    region_code: str,
    year: int,
    page: Page,
    reader: Principal = INTERNAL,
) -> tuple[list[VillageIncome], str]:
    """A page of the villages in the reader's region (and region_code), in id order, with
    their households' income of `year` and the status changes that income made."""
    village, hh = models.Village, models.Household
    stmt = select(village).order_by(col(village.id))
    for prefix in (region_of(reader), region_code):
        if prefix:
            stmt = stmt.where(col(village.admin_code).startswith(prefix, autoescape=True))
    if page.after:
        stmt = stmt.where(col(village.id) > page.after)
    with _snapshot(store) as session:
        villages = list(session.scalars(stmt.limit(page.size + 1)))
        more = len(villages) > page.size
        villages = villages[: page.size]
        out = {v.id: VillageIncome(v) for v in villages}
        income = HouseholdIncome
        sums = session.execute(
            select(
                col(hh.village_id),
                func.count(),
                func.sum(income.produce_fen),
                func.sum(income.dividends_fen),
                func.sum(income.aid_fen),
            )
            .join(hh, col(hh.id) == col(income.household_id))
            .where(col(income.year) == year, col(hh.village_id).in_(list(out)))
            .group_by(col(hh.village_id))
        ).all()
        changes = session.execute(
            select(
                col(hh.village_id),
                col(models.StatusChange.household_id),
                col(models.StatusChange.new_status),
            )
            .join(hh, col(hh.id) == col(models.StatusChange.household_id))
            .where(
                col(hh.village_id).in_(list(out)),
                col(models.StatusChange.reason).startswith(reason_prefix(year), autoescape=True),
            )
        ).all()
    for village_id, households, produce, dividends, aid in sums:
        v = out[village_id]
        v.households, v.produce_fen = int(households), int(produce)
        v.dividends_fen, v.aid_fen = int(dividends), int(aid)
    lifted: dict[str, set[str]] = defaultdict(set)
    for village_id, household_id, new_status in changes:
        out[village_id].changed.add(household_id)
        if new_status == Status.LIFTED_OUT:
            lifted[village_id].add(household_id)
    for v in out.values():
        v.changed_status, v.lifted_out = len(v.changed), len(lifted[v.village.id])
    token = next_token(page, villages[-1].id) if more else ""
    return list(out.values()), token
