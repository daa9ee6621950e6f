"""a produce run made by a platform carries its buyer id as its scope: 40 characters

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 14:00:00
"""

from __future__ import annotations

import sqlmodel
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("match_run") as batch:
        batch.alter_column(
            "scope",
            type_=sqlmodel.sql.sqltypes.AutoString(length=40),
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=12),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("match_run") as batch:
        batch.alter_column(
            "scope",
            type_=sqlmodel.sql.sqltypes.AutoString(length=12),
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=40),
            existing_nullable=False,
        )
