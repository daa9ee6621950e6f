"""shocks on households, villages and counties (issue 16)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "shock",
        sa.Column("id", text(length=40), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("household_id", text(length=40), nullable=True),
        sa.Column("village_id", text(length=40), nullable=True),
        sa.Column("county_code", text(length=6), nullable=False),
        sa.Column("date", text(length=10), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("note", text(length=500), nullable=False),
        sa.Column("key_id", text(length=40), nullable=False),
        sa.Column("create_time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind >= 1 AND kind <= 5", name="shock_kind_known"),
        sa.CheckConstraint("severity >= 1 AND severity <= 3", name="shock_severity_range"),
        sa.CheckConstraint(
            "CAST(household_id IS NOT NULL AS INTEGER) + CAST(village_id IS NOT NULL AS INTEGER)"
            " + CAST(county_code <> '' AS INTEGER) = 1",
            name="shock_one_target",
        ),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("household_id", "village_id", "county_code"):
        op.create_index(f"ix_shock_{column}", "shock", [column])


def downgrade() -> None:
    op.drop_table("shock")
