"""the income year of a dividend, for a cooperative's statement of one season (issue 15)

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-06 15:45:00

Dividends paid before this revision get the year they were recorded in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dividend") as batch:
        batch.add_column(sa.Column("year", sa.Integer(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE dividend SET year = EXTRACT(YEAR FROM create_time)::int")
    else:
        op.execute("UPDATE dividend SET year = CAST(strftime('%Y', create_time) AS INTEGER)")


def downgrade() -> None:
    with op.batch_alter_table("dividend") as batch:
        batch.drop_column("year")
