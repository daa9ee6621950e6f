"""ledger: hashes cover seq (format v2), seqs without holes, signed checkpoints; archived
aid programmes; the key that made each run

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-06 15:40:00

The chain written before (format v1: the hash covered every field but seq) is walked with the
v1 formula; up to its first break (if any) it is renumbered 1, 2, 3 … (a PostgreSQL sequence
left holes after rolled-back commits) and rehashed with v2, so a chain intact before is intact
after. From a v1 break on, entries are left as they are: they still fail, under v2, at the
same entry — the migration launders no tampering.
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

from registry.ledger import chain as ledger
from registry.ledger import guard as ledger_guard

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None

# Typed, so that SQLite's stored text comes back as a datetime, as the service reads it.
_ENTRY = sa.table(
    "ledger_entry",
    sa.column("seq", sa.BigInteger()),
    sa.column("time", sa.DateTime()),
    *(sa.column(name, sa.String()) for name in ("kind", "run_id", "subject_id", "counterpart_id")),
    sa.column("quantity", sa.BigInteger()),
    sa.column("amount_fen", sa.BigInteger()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def upgrade() -> None:
    op.create_table(
        "ledger_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("time", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ledger_checkpoint") as batch:
        batch.create_index(batch.f("ix_ledger_checkpoint_seq"), ["seq"], unique=False)
        batch.create_index(batch.f("ix_ledger_checkpoint_key_id"), ["key_id"], unique=False)
    _rehash(op.get_bind())
    with op.batch_alter_table("aid_program") as batch:
        batch.add_column(
            sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("match_run") as batch:
        batch.add_column(
            sa.Column(
                "owner_key_id",
                sqlmodel.sql.sqltypes.AutoString(length=40),
                nullable=False,
                server_default="",
            )
        )
        batch.create_index(batch.f("ix_match_run_owner_key_id"), ["owner_key_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("match_run") as batch:
        batch.drop_index(batch.f("ix_match_run_owner_key_id"))
        batch.drop_column("owner_key_id")
    with op.batch_alter_table("aid_program") as batch:
        batch.drop_column("archived")
    op.drop_table("ledger_checkpoint")
    # v2 hashes stay: v1 cannot be recomputed for renumbered entries without their old seqs.


def _v1_hash(prev: str, stamp: str, row: sa.Row) -> str:
    """The format before this migration (registry/ledger/chain.py at 0016), frozen here."""
    fields = [prev, stamp, row.kind, row.run_id, row.subject_id, row.counterpart_id]
    payload = json.dumps([*fields, row.quantity, row.amount_fen], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _rehash(connection: sa.Connection) -> None:
    rows = list(connection.execute(sa.select(_ENTRY).order_by(_ENTRY.c.seq)))
    prev_v1, prev_v2, changes = ledger.GENESIS, ledger.GENESIS, []
    for number, row in enumerate(rows, start=1):
        stamp = ledger.time_iso(row.time)
        if row.prev_hash != prev_v1 or row.hash != _v1_hash(prev_v1, stamp, row):
            break  # the v1 chain breaks here: leave this entry and the rest as they are
        entry = ledger.Entry(
            row.kind, row.run_id, row.subject_id, row.counterpart_id, row.quantity, row.amount_fen
        )
        digest = ledger.entry_hash(number, prev_v2, stamp, entry)
        changes.append({"old": row.seq, "seq": number, "prev": prev_v2, "hash": digest})
        prev_v1, prev_v2 = row.hash, digest
    if not changes:
        return
    ledger_guard.remove(connection)
    # In seq order, each new seq at most the old one: never onto a seq still in use. The old
    # hashes are unique and so are the new ones, but an old may equal no new (different
    # formats), so updating in order keeps the unique index on hash satisfied.
    update = sa.text(
        "UPDATE ledger_entry SET seq = :seq, prev_hash = :prev, hash = :hash WHERE seq = :old"
    )
    for change in changes:
        connection.execute(update, change)
    ledger_guard.install(connection)
