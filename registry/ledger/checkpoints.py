"""Checkpoints of the ledger: sign the head after checking the chain, store it, and compare
the chain with checkpoints (sent by a verifier, or stored and signed with the server's key).

The chain alone catches an entry altered or removed behind the service's back, but not a
consistent rewrite: an entry changed (or removed, the rest renumbered) and every later hash
recomputed. A checkpoint catches it: the entry at its seq no longer has its hash, or is gone.
Only the key's holder can sign one, and the key never enters the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert, select
from sqlmodel import Session, col

from registry.errors import FailedPrecondition
from registry.ledger import chain as ledger
from registry.ledger import signing
from registry.ledger.signing import Checkpoint
from registry.resources import models
from registry.resources.store import RegistryStore


def create(store: RegistryStore, key: Ed25519PrivateKey | None) -> Checkpoint:
    """Check the whole chain, sign its head and store the checkpoint.

    The walk is one statement, so it reads one snapshot of the chain, and the head signed is
    that snapshot's last entry; commits go on meanwhile (no lock: a walk of 100,000 entries
    took 53 s on a loaded machine, docs/aid.md)."""
    if key is None:
        raise FailedPrecondition(
            "the server has no ledger signing key (setting ledger_signing_key_file)"
        )
    with store.transaction() as session:
        check = compare(session, stored(session, signing.public_bytes(key)))
        if not check.intact:
            where = f"entry {check.first_broken_seq}: " if check.first_broken_seq else ""
            raise FailedPrecondition(f"the ledger does not check out at {where}{check.reason}")
        if not check.head_seq:
            raise FailedPrecondition("the ledger is empty: there is no head to sign")
    stamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    checkpoint = signing.sign(key, check.head_seq, check.head_hash, stamp)
    with store.transaction(write=True) as session:
        session.execute(
            insert(models.LedgerCheckpoint),
            [
                {
                    "seq": checkpoint.seq,
                    "head_hash": checkpoint.head_hash,
                    "time": checkpoint.time,
                    "key_id": checkpoint.key_id,
                    "public_key": checkpoint.public_key,
                    "signature": checkpoint.signature,
                }
            ],
        )
    return checkpoint


def stored(session: Session, public_key: bytes | None) -> list[Checkpoint]:
    """The stored checkpoints signed with this key whose signatures verify (a row with a
    forged or altered signature is no checkpoint; none without a key)."""
    if public_key is None:
        return []
    row = models.LedgerCheckpoint
    stmt = select(row).where(col(row.key_id) == signing.key_id(public_key)).order_by(col(row.seq))
    out = []
    for r in session.scalars(stmt):
        checkpoint = Checkpoint(r.seq, r.head_hash, r.time, r.key_id, r.public_key, r.signature)
        try:
            signing.verify(checkpoint, trusted=public_key)
        except signing.CheckpointError:
            continue
        out.append(checkpoint)
    return out


def compare(session: Session, checkpoints: Iterable[Checkpoint]) -> ledger.ChainCheck:
    """Walk the chain, then hold it against the checkpoints in seq order. The first fault by
    seq is reported: an entry that fails the chain, or a checkpoint the chain no longer
    matches (a consistent rewrite, named as the range after the newest checkpoint that still
    matches), or one beyond the chain's end (the entries removed)."""
    check = ledger.check_chain(session)
    marks = sorted({(c.seq, c.head_hash, c.time) for c in checkpoints})
    wanted = [seq for seq, _, _ in marks]
    entry = models.LedgerEntry
    found = session.execute(
        select(col(entry.seq), col(entry.hash)).where(col(entry.seq).in_(wanted))
    )
    hashes = {int(seq): str(digest) for seq, digest in found}
    good = 0
    for seq, head_hash, stamp in marks:
        if check.first_broken_seq and seq >= check.first_broken_seq:
            break
        if seq > check.head_seq:
            first = check.head_seq + 1
            gone = f"entry {seq} is" if first == seq else f"entries {first}-{seq} are"
            reason = (
                f"{gone} missing: the ledger ends at {check.head_seq}, the checkpoint of "
                f"{stamp} covers 1-{seq} (the newest entries were removed, or earlier ones and "
                "the rest renumbered)"
            )
            return _fault(check, first, reason, len(marks))
        if hashes.get(seq) != head_hash:
            reason = (
                f"entry {seq} differs from the checkpoint of {stamp}: entries {good + 1}-{seq} "
                "were rewritten (an entry among them changed or removed, and the hashes after "
                "it recomputed)"
            )
            return _fault(check, good + 1, reason, len(marks))
        good = seq
    return ledger.ChainCheck(
        check.entries,
        check.first_broken_seq,
        check.reason,
        check.head_seq,
        check.head_hash,
        checkpoints=len(marks),
    )


def _fault(check: ledger.ChainCheck, seq: int, reason: str, marks: int) -> ledger.ChainCheck:
    return ledger.ChainCheck(check.entries, seq, reason, check.head_seq, check.head_hash, marks)
