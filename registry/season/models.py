"""SQLModel tables of the season after the match: shipments, payments, dividends (registered
on SQLModel.metadata like registry/resources/models.py; rows never cross the wire: the
servicer, registry/season/servicer.py, converts).

Invariants the database enforces itself: positive kilograms, what was received and rejected
never above what was shipped, nothing received before the receipt, one shipment per
allocation (run, listing, order), known states and reasons, non-negative prices, payments
never above a receipt's value, positive payments and dividends; a checkout hold's kilograms
positive, its state known, a confirmed hold naming its run and order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

# fupin.registry.v1.DisbursementState / DisbursementChannel / SignedBy
DISBURSED, AID_RECEIVED, CLAWED_BACK = 1, 2, 3
# fupin.registry.v1.ShipmentState / RejectReason
COMMITTED, DISPATCHED, RECEIVED, CANCELLED = 1, 2, 3, 4
REJECT_GRADE, REJECT_QUALITY, REJECT_LATE = 1, 2, 3
# fupin.registry.v1.HoldState
HELD, CONFIRMED, RELEASED, EXPIRED = 1, 2, 3, 4


class Shipment(SQLModel, table=True):
    """A committed allocation's kilograms on their way from a listing to an order."""

    __tablename__ = "shipment"
    __table_args__ = (
        UniqueConstraint("run_id", "listing_id", "order_id", name="shipment_one_per_allocation"),
        CheckConstraint("kg > 0", name="shipment_kg_positive"),
        CheckConstraint("state IN (1, 2, 3, 4)", name="shipment_state_known"),
        CheckConstraint(
            "received_kg >= 0 AND rejected_kg >= 0 AND received_kg + rejected_kg <= kg",
            name="shipment_received_within_kg",
        ),
        CheckConstraint(
            "state = 3 OR (received_kg = 0 AND rejected_kg = 0)",
            name="shipment_received_only_when_received",
        ),
        CheckConstraint(
            "reject_reason IN (0, 1, 2, 3) AND (rejected_kg = 0 OR reject_reason > 0)",
            name="shipment_rejection_has_reason",
        ),
        CheckConstraint(
            "price_fen >= 0 AND paid_price_fen >= 0", name="shipment_price_non_negative"
        ),
        CheckConstraint(
            "paid_fen >= 0 AND paid_fen <= received_kg * paid_price_fen",
            name="shipment_paid_within_owed",
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    run_id: str = Field(foreign_key="match_run.id", index=True, max_length=40)
    listing_id: str = Field(foreign_key="listing.id", index=True, max_length=40)
    order_id: str = Field(foreign_key="purchase_order.id", index=True, max_length=40)
    producer_id: str = Field(index=True, max_length=40)  # the listing's, for scopes
    buyer_id: str = Field(index=True, max_length=40)  # the order's, for scopes
    kg: int = Field(sa_type=BigInteger)
    state: int = Field(default=COMMITTED, index=True)
    price_fen: int = Field(default=0, sa_type=BigInteger)
    received_kg: int = Field(default=0, sa_type=BigInteger)
    rejected_kg: int = Field(default=0, sa_type=BigInteger)
    reject_reason: int = 0
    paid_price_fen: int = Field(default=0, sa_type=BigInteger)
    paid_fen: int = Field(default=0, sa_type=BigInteger)  # payments recorded so far
    cancel_reason: str = Field(default="", max_length=200)
    create_time: datetime
    update_time: datetime
    dispatch_time: datetime | None = None
    receive_time: datetime | None = None
    cancel_time: datetime | None = None
    version: int = 1


class Payment(SQLModel, table=True):
    """Money a buyer paid for a received shipment (its receipt's value bounds the total)."""

    __tablename__ = "payment"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="payment_amount_positive"),)

    id: str = Field(primary_key=True, max_length=40)
    shipment_id: str = Field(foreign_key="shipment.id", index=True, max_length=40)
    producer_id: str = Field(index=True, max_length=40)  # the shipment's, for accounts
    amount_fen: int = Field(sa_type=BigInteger)
    paid_on: str = Field(max_length=10)  # YYYY-MM-DD
    reference: str = Field(default="", max_length=100)
    create_time: datetime


class Dividend(SQLModel, table=True):
    """A cooperative's payout to one member household (its share of one payout batch)."""

    __tablename__ = "dividend"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="dividend_amount_positive"),)

    id: str = Field(primary_key=True, max_length=40)
    batch_id: str = Field(index=True, max_length=40)  # one PayDividends call
    producer_id: str = Field(foreign_key="producer.id", index=True, max_length=40)
    household_id: str = Field(foreign_key="household.id", index=True, max_length=40)
    amount_fen: int = Field(sa_type=BigInteger)
    reference: str = Field(default="", max_length=100)
    year: int = 0  # the members' income year (the payout's paid_on)
    create_time: datetime


class GrantDisbursement(SQLModel, table=True):
    """What became of one committed aid grant (run, household, programme): disbursed through a
    channel, then signed for (签收) by the household or its village, or clawed back."""

    __tablename__ = "grant_disbursement"
    __table_args__ = (
        CheckConstraint("state IN (1, 2, 3)", name="disbursement_state_known"),
        CheckConstraint("channel IN (1, 2, 3)", name="disbursement_channel_known"),
        CheckConstraint(
            "(state = 1 AND signed_by = 0) OR (state = 2 AND signed_by IN (1, 2)) OR state = 3",
            name="disbursement_signed_when_received",
        ),
        CheckConstraint("amount_fen > 0", name="disbursement_amount_positive"),
    )

    run_id: str = Field(foreign_key="match_run.id", primary_key=True, max_length=40)
    household_id: str = Field(foreign_key="household.id", primary_key=True, max_length=40)
    programme_id: str = Field(foreign_key="aid_program.id", primary_key=True, max_length=40)
    amount_fen: int = Field(sa_type=BigInteger)
    state: int = Field(index=True)
    channel: int
    reference: str = Field(default="", max_length=100)
    signed_by: int = 0
    receive_year: int = 0  # the household's income year it was signed for in (0: not yet)
    clawback_reason: str = Field(default="", max_length=200)
    disburse_time: datetime
    receive_time: datetime | None = None
    clawback_time: datetime | None = None


class HouseholdIncome(SQLModel, table=True):
    """A household's income of one year from the season: its produce paid for (a household
    grower's), dividends from its cooperatives, aid signed for (registry/season/income.py)."""

    __tablename__ = "household_income"
    __table_args__ = (
        CheckConstraint(
            "produce_fen >= 0 AND dividends_fen >= 0 AND aid_fen >= 0",
            name="household_income_non_negative",
        ),
        CheckConstraint("year >= 2000 AND year <= 2100", name="household_income_year_range"),
    )

    household_id: str = Field(
        foreign_key="household.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    year: int = Field(primary_key=True)
    produce_fen: int = Field(default=0, sa_type=BigInteger)
    dividends_fen: int = Field(default=0, sa_type=BigInteger)
    aid_fen: int = Field(default=0, sa_type=BigInteger)
    update_time: datetime

    @property
    def total_fen(self) -> int:
        return self.produce_fen + self.dividends_fen + self.aid_fen


class Hold(SQLModel, table=True):
    """Kilograms a checkout holds for a few minutes (registry/season/holds.py): counted in its
    listings' reserved_kg while HELD, then confirmed into an order and shipments, released, or
    expired (the kilograms return)."""

    __tablename__ = "checkout_hold"
    __table_args__ = (
        CheckConstraint("kg > 0", name="hold_kg_positive"),
        CheckConstraint("state IN (1, 2, 3, 4)", name="hold_state_known"),
        CheckConstraint(
            "(state = 2) = (run_id IS NOT NULL AND order_id <> '')", name="hold_confirmed_has_run"
        ),
        CheckConstraint("price_fen >= 0", name="hold_price_non_negative"),
    )

    id: str = Field(primary_key=True, max_length=40)
    buyer_id: str = Field(foreign_key="buyer.id", index=True, max_length=40)  # whose hold
    order_id: str = Field(default="", max_length=40)  # the order it fills ("" until confirmed)
    run_id: str | None = Field(default=None, foreign_key="match_run.id", max_length=40)
    product: str = Field(max_length=60)
    accepted_grades: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    price_fen: int = Field(sa_type=BigInteger)
    deliver_by: str = Field(max_length=10)
    kg: int = Field(sa_type=BigInteger)
    state: int = Field(default=HELD)
    expire_time: datetime = Field(index=True)
    create_time: datetime
    end_time: datetime | None = None  # confirmed, released or expired


class HoldItem(SQLModel, table=True):
    """One listing's kilograms in a hold."""

    __tablename__ = "checkout_hold_item"
    __table_args__ = (CheckConstraint("kg > 0", name="hold_item_kg_positive"),)

    hold_id: str = Field(
        foreign_key="checkout_hold.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    listing_id: str = Field(foreign_key="listing.id", primary_key=True, max_length=40)
    kg: int = Field(sa_type=BigInteger)


class MemberDelivery(SQLModel, table=True):
    """Kilograms a member household brought into its cooperative's listing: the weights of a
    payout by delivered kilogram (registry/season/payments.py)."""

    __tablename__ = "member_delivery"
    __table_args__ = (CheckConstraint("kg > 0", name="member_delivery_kg_positive"),)

    listing_id: str = Field(
        foreign_key="listing.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    household_id: str = Field(foreign_key="household.id", primary_key=True, max_length=40)
    producer_id: str = Field(foreign_key="producer.id", index=True, max_length=40)
    kg: int = Field(sa_type=BigInteger)
    update_time: datetime
