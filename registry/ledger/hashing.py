"""The hash of a ledger entry, format "v2": pure (hashlib and json), so the CLI hashes an
exported ledger with this same code, without a server or a database (clients/ledger_file.py).

Each entry's hash covers every field of the entry — its seq, time, kind, run, subject,
counterpart, quantity, amount — and the previous entry's hash (registry/ledger/chain.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS = "0" * 64  # the previous hash of the first entry
HASH_FORMAT = "v2"


@dataclass(frozen=True)
class Entry:
    kind: str
    run_id: str = ""
    subject_id: str = ""
    counterpart_id: str = ""
    quantity: int = 0
    amount_fen: int = 0


def entry_hash(seq: int, prev_hash: str, stamp: str, entry: Entry) -> str:
    """SHA-256 of the JSON array of the format, seq, previous hash, time and every field."""
    payload = json.dumps(
        [
            HASH_FORMAT,
            seq,
            prev_hash,
            stamp,
            entry.kind,
            entry.run_id,
            entry.subject_id,
            entry.counterpart_id,
            entry.quantity,
            entry.amount_fen,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def time_iso(value: datetime) -> str:
    """UTC time as hashed: SQLite hands datetimes back naive, PostgreSQL aware."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")
