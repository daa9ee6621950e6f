"""the region of a cadre's home unit

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 20:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


# The shape of 0006 on purpose: a migration stands alone, sharing no helper that could change
# under it after it has run somewhere.
def upgrade() -> None:
    # Cadres made before have no home region: only an admin posts them until one is set.
    with op.batch_alter_table("cadre") as batch:
        batch.add_column(
            sa.Column(
                "home_region_code",
                sqlmodel.sql.sqltypes.AutoString(length=12),
                nullable=False,
                server_default="",
            )
        )
        batch.create_index("ix_cadre_home_region_code", ["home_region_code"])


def downgrade() -> None:
    with op.batch_alter_table("cadre") as batch:
        batch.drop_index("ix_cadre_home_region_code")
        batch.drop_column("home_region_code")
