"""the scope a match run was made for

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Runs made before have no scope: they stay visible to admins and unscoped auditors only.
    with op.batch_alter_table("match_run") as batch:
        batch.add_column(
            sa.Column(
                "scope",
                sqlmodel.sql.sqltypes.AutoString(length=12),
                nullable=False,
                server_default="",
            )
        )
        batch.create_index("ix_match_run_scope", ["scope"])


def downgrade() -> None:
    with op.batch_alter_table("match_run") as batch:
        batch.drop_index("ix_match_run_scope")
        batch.drop_column("scope")
