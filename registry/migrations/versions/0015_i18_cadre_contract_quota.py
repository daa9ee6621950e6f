"""a cadre's own contracting quota, overriding its rank's

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Cadres made before carry their rank's quota (NULL), as they always did.
    with op.batch_alter_table("cadre") as batch:
        batch.add_column(sa.Column("contract_quota", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cadre") as batch:
        batch.drop_column("contract_quota")
