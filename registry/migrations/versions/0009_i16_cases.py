"""identification and exit cases (issue 16): cases, their steps and objections

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OPEN_CASE = sa.text("state < 5")


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "household_case",
        sa.Column("id", _text(40), nullable=False),
        sa.Column("household_id", _text(40), nullable=False),
        sa.Column("village_id", _text(40), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("reason", _text(200), nullable=False),
        sa.Column("notice_start", _text(10), nullable=False),
        sa.Column("notice_end", _text(10), nullable=False),
        sa.Column("notice_place", _text(200), nullable=False),
        sa.Column("unmet_conditions", _text(1000), nullable=False),
        sa.Column("create_time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("update_time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN (1, 2)", name="case_kind_known"),
        sa.CheckConstraint("state >= 1 AND state <= 6", name="case_state_known"),
        sa.CheckConstraint(
            "notice_end = '' OR notice_end >= notice_start", name="case_notice_window"
        ),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("household_case") as batch:
        batch.create_index("ix_household_case_household_id", ["household_id"])
        batch.create_index("ix_household_case_village_id", ["village_id"])
    op.create_index(
        "ux_household_case_open",
        "household_case",
        ["household_id"],
        unique=True,
        sqlite_where=OPEN_CASE,
        postgresql_where=OPEN_CASE,
    )
    op.create_table(
        "case_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", _text(40), nullable=False),
        sa.Column("time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("step", _text(20), nullable=False),
        sa.Column("old_state", sa.Integer(), nullable=False),
        sa.Column("new_state", sa.Integer(), nullable=False),
        sa.Column("actor", sa.Integer(), nullable=False),
        sa.Column("key_id", _text(40), nullable=False),
        sa.Column("note", _text(500), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["household_case.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_step_case_id", "case_step", ["case_id"])
    op.create_table(
        "case_objection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", _text(40), nullable=False),
        sa.Column("time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("objector", _text(100), nullable=False),
        sa.Column("text", _text(500), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("resolution", _text(500), nullable=False),
        sa.CheckConstraint("state >= 1 AND state <= 3", name="objection_state_known"),
        sa.ForeignKeyConstraint(["case_id"], ["household_case.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_objection_case_id", "case_objection", ["case_id"])


def downgrade() -> None:
    op.drop_table("case_objection")
    op.drop_table("case_step")
    op.drop_table("household_case")
