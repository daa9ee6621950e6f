"""shipments of committed produce runs, payments, dividends, aid disbursements (issue 15)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sqlmodel.sql.sqltypes.AutoString(length=40)
TIME = sqlmodel.sql.sqltypes.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "shipment",
        sa.Column("id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("listing_id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("producer_id", ID, nullable=False),
        sa.Column("buyer_id", ID, nullable=False),
        sa.Column("kg", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("received_kg", sa.BigInteger(), nullable=False),
        sa.Column("rejected_kg", sa.BigInteger(), nullable=False),
        sa.Column("reject_reason", sa.Integer(), nullable=False),
        sa.Column("paid_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("create_time", TIME, nullable=False),
        sa.Column("update_time", TIME, nullable=False),
        sa.Column("dispatch_time", TIME, nullable=True),
        sa.Column("receive_time", TIME, nullable=True),
        sa.Column("cancel_time", TIME, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["match_run.id"]),
        sa.ForeignKeyConstraint(["listing_id"], ["listing.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["purchase_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "listing_id", "order_id", name="shipment_one_per_allocation"),
        sa.CheckConstraint("kg > 0", name="shipment_kg_positive"),
        sa.CheckConstraint("state IN (1, 2, 3, 4)", name="shipment_state_known"),
        sa.CheckConstraint(
            "received_kg >= 0 AND rejected_kg >= 0 AND received_kg + rejected_kg <= kg",
            name="shipment_received_within_kg",
        ),
        sa.CheckConstraint(
            "state = 3 OR (received_kg = 0 AND rejected_kg = 0)",
            name="shipment_received_only_when_received",
        ),
        sa.CheckConstraint(
            "reject_reason IN (0, 1, 2, 3) AND (rejected_kg = 0 OR reject_reason > 0)",
            name="shipment_rejection_has_reason",
        ),
        sa.CheckConstraint(
            "price_fen >= 0 AND paid_price_fen >= 0", name="shipment_price_non_negative"
        ),
        sa.CheckConstraint(
            "paid_fen >= 0 AND paid_fen <= received_kg * paid_price_fen",
            name="shipment_paid_within_owed",
        ),
    )
    with op.batch_alter_table("shipment") as batch:
        for column in ("run_id", "listing_id", "order_id", "producer_id", "buyer_id", "state"):
            batch.create_index(f"ix_shipment_{column}", [column])
    op.create_table(
        "payment",
        sa.Column("id", ID, nullable=False),
        sa.Column("shipment_id", ID, nullable=False),
        sa.Column("producer_id", ID, nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("create_time", TIME, nullable=False),
        sa.ForeignKeyConstraint(["shipment_id"], ["shipment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("amount_fen > 0", name="payment_amount_positive"),
    )
    with op.batch_alter_table("payment") as batch:
        for column in ("shipment_id", "producer_id"):
            batch.create_index(f"ix_payment_{column}", [column])
    op.create_table(
        "dividend",
        sa.Column("id", ID, nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("producer_id", ID, nullable=False),
        sa.Column("household_id", ID, nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("create_time", TIME, nullable=False),
        sa.ForeignKeyConstraint(["producer_id"], ["producer.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("amount_fen > 0", name="dividend_amount_positive"),
    )
    with op.batch_alter_table("dividend") as batch:
        for column in ("batch_id", "producer_id", "household_id"):
            batch.create_index(f"ix_dividend_{column}", [column])

    op.create_table(
        "grant_disbursement",
        sa.Column("run_id", ID, nullable=False),
        sa.Column("household_id", ID, nullable=False),
        sa.Column("programme_id", ID, nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("channel", sa.Integer(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("signed_by", sa.Integer(), nullable=False),
        sa.Column("clawback_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("disburse_time", TIME, nullable=False),
        sa.Column("receive_time", TIME, nullable=True),
        sa.Column("clawback_time", TIME, nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["match_run.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.ForeignKeyConstraint(["programme_id"], ["aid_program.id"]),
        sa.PrimaryKeyConstraint("run_id", "household_id", "programme_id"),
        sa.CheckConstraint("state IN (1, 2, 3)", name="disbursement_state_known"),
        sa.CheckConstraint("channel IN (1, 2, 3)", name="disbursement_channel_known"),
        sa.CheckConstraint(
            "(state = 1 AND signed_by = 0) OR (state = 2 AND signed_by IN (1, 2)) OR state = 3",
            name="disbursement_signed_when_received",
        ),
        sa.CheckConstraint("amount_fen > 0", name="disbursement_amount_positive"),
    )
    with op.batch_alter_table("grant_disbursement") as batch:
        batch.create_index("ix_grant_disbursement_state", ["state"])


def downgrade() -> None:
    op.drop_table("grant_disbursement")
    op.drop_table("dividend")
    op.drop_table("payment")
    op.drop_table("shipment")
