"""households' extra indicators and indicator-set sub-scores (issue 16)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("household") as batch:
        for name in ("extra_indicators", "set_scores"):
            batch.add_column(sa.Column(name, sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("household") as batch:
        batch.drop_column("set_scores")
        batch.drop_column("extra_indicators")
