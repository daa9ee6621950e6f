"""households' income records per year; the income year of a signed-for grant (issue 15)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "household_income",
        sa.Column("household_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("produce_fen", sa.BigInteger(), nullable=False),
        sa.Column("dividends_fen", sa.BigInteger(), nullable=False),
        sa.Column("aid_fen", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("household_id", "year"),
        sa.CheckConstraint(
            "produce_fen >= 0 AND dividends_fen >= 0 AND aid_fen >= 0",
            name="household_income_non_negative",
        ),
        sa.CheckConstraint("year >= 2000 AND year <= 2100", name="household_income_year_range"),
    )
    with op.batch_alter_table("grant_disbursement") as batch:
        batch.add_column(
            sa.Column("receive_year", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("grant_disbursement") as batch:
        batch.drop_column("receive_year")
    op.drop_table("household_income")
