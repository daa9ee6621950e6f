"""cadre runs and household contracts

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-02 14:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_cadre_item",
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("cadre_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("household_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("village_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("cadre_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["match_run.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "cadre_id", "household_id"),
    )
    op.create_table(
        "household_contract",
        sa.Column("household_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("cadre_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["cadre_id"], ["cadre.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("household_id"),
    )
    with op.batch_alter_table("household_contract", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_household_contract_cadre_id"), ["cadre_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_household_contract_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("household_contract", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_contract_run_id"))
        batch_op.drop_index(batch_op.f("ix_household_contract_cadre_id"))
    op.drop_table("household_contract")
    op.drop_table("run_cadre_item")
