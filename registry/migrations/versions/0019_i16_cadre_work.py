"""cadre work: visit logs and recalls (issue 16)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    stamp = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "cadre_visit",
        sa.Column("id", text(length=40), nullable=False),
        sa.Column("cadre_id", text(length=40), nullable=False),
        sa.Column("household_id", text(length=40), nullable=False),
        sa.Column("date", text(length=10), nullable=False),
        sa.Column("done", text(length=1000), nullable=False),
        sa.Column("follow_up", text(length=1000), nullable=False),
        sa.Column("key_id", text(length=40), nullable=False),
        sa.Column("request_id", text(length=100), nullable=False),
        sa.Column("create_time", stamp(), nullable=False),
        sa.CheckConstraint("done <> ''", name="cadre_visit_done_required"),
        sa.ForeignKeyConstraint(["cadre_id"], ["cadre.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_cadre_visit_cadre_date", "cadre_visit", ["cadre_id", "date"])
    op.create_index("ix_cadre_visit_household_id", "cadre_visit", ["household_id"])
    op.create_index("ix_cadre_visit_request_id", "cadre_visit", ["request_id"])
    op.create_table(
        "cadre_recall",
        sa.Column("id", text(length=40), nullable=False),
        sa.Column("cadre_id", text(length=40), nullable=False),
        sa.Column("reason", text(length=500), nullable=False),
        sa.Column("released_village_id", text(length=40), nullable=False),
        sa.Column("released_household_ids", text(), nullable=False),
        sa.Column("key_id", text(length=40), nullable=False),
        sa.Column("request_id", text(length=100), nullable=False),
        sa.Column("time", stamp(), nullable=False),
        sa.CheckConstraint("reason <> ''", name="cadre_recall_reason_required"),
        sa.ForeignKeyConstraint(["cadre_id"], ["cadre.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_cadre_recall_cadre_id", "cadre_recall", ["cadre_id"])
    op.create_index("ix_cadre_recall_request_id", "cadre_recall", ["request_id"])


def downgrade() -> None:
    op.drop_table("cadre_recall")
    op.drop_table("cadre_visit")
