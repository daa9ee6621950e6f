"""annual re-surveys and the households they did not list (issue 16)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "resurvey",
        sa.Column("id", text(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("region_code", text(length=12), nullable=False),
        sa.Column("time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("key_id", text(length=40), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("households", "updated", "unchanged", "added", "missing")
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_resurvey_year", "resurvey", ["year"])
    op.create_table(
        "resurvey_missing",
        sa.Column("resurvey_id", text(length=40), nullable=False),
        sa.Column("household_id", text(length=40), nullable=False),
        sa.ForeignKeyConstraint(["resurvey_id"], ["resurvey.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("resurvey_id", "household_id"),
    )


def downgrade() -> None:
    op.drop_table("resurvey_missing")
    op.drop_table("resurvey")
