"""checkout holds (kilograms held for a few minutes) and members' deliveries (issue 15)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

ID = sqlmodel.sql.sqltypes.AutoString(length=40)
TIME = sqlmodel.sql.sqltypes.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "checkout_hold",
        sa.Column("id", ID, nullable=False),
        sa.Column("buyer_id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("product", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("accepted_grades", sa.JSON(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("deliver_by", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("kg", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("expire_time", TIME, nullable=False),
        sa.Column("create_time", TIME, nullable=False),
        sa.Column("end_time", TIME, nullable=True),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyer.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["match_run.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("kg > 0", name="hold_kg_positive"),
        sa.CheckConstraint("state IN (1, 2, 3, 4)", name="hold_state_known"),
        sa.CheckConstraint(
            "(state = 2) = (run_id IS NOT NULL AND order_id <> '')", name="hold_confirmed_has_run"
        ),
        sa.CheckConstraint("price_fen >= 0", name="hold_price_non_negative"),
    )
    with op.batch_alter_table("checkout_hold") as batch:
        for column in ("buyer_id", "expire_time"):
            batch.create_index(f"ix_checkout_hold_{column}", [column])
    op.create_table(
        "checkout_hold_item",
        sa.Column("hold_id", ID, nullable=False),
        sa.Column("listing_id", ID, nullable=False),
        sa.Column("kg", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["hold_id"], ["checkout_hold.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["listing_id"], ["listing.id"]),
        sa.PrimaryKeyConstraint("hold_id", "listing_id"),
        sa.CheckConstraint("kg > 0", name="hold_item_kg_positive"),
    )
    op.create_table(
        "member_delivery",
        sa.Column("listing_id", ID, nullable=False),
        sa.Column("household_id", ID, nullable=False),
        sa.Column("producer_id", ID, nullable=False),
        sa.Column("kg", sa.BigInteger(), nullable=False),
        sa.Column("update_time", TIME, nullable=False),
        sa.ForeignKeyConstraint(["listing_id"], ["listing.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.ForeignKeyConstraint(["producer_id"], ["producer.id"]),
        sa.PrimaryKeyConstraint("listing_id", "household_id"),
        sa.CheckConstraint("kg > 0", name="member_delivery_kg_positive"),
    )
    with op.batch_alter_table("member_delivery") as batch:
        batch.create_index("ix_member_delivery_producer_id", ["producer_id"])


def downgrade() -> None:
    op.drop_table("member_delivery")
    op.drop_table("checkout_hold_item")
    op.drop_table("checkout_hold")
