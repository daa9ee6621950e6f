"""Signed checkpoints against rewrites with direct database access, on SQLite and PostgreSQL:
a tampered entry, a consistent rewrite (hashes recomputed), a ledger truncated at the end or in
the middle (renumbered or not) each fail VerifyLedger, naming the entry or the seq range."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest
from sqlalchemy import text

from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc
from registry.ledger import chain, signing
from registry.ledger import guard as ledger_guard
from registry.resources import models
from tests.ledgertamper import rewrite, rows
from tests.rpcerrors import fields_of, rpc_fails


@pytest.fixture
def signed(server, signer, admin_key) -> Iterator[lpb_grpc.LedgerServiceStub]:
    """LedgerService of the server with the key (tables emptied by `server`)."""
    from clients.auth import open_channel

    with open_channel(f"127.0.0.1:{signer.port}", api_key=admin_key) as channel:
        yield lpb_grpc.LedgerServiceStub(channel)


@pytest.fixture
def plain(channel) -> lpb_grpc.LedgerServiceStub:
    """LedgerService of the server without a key."""
    return lpb_grpc.LedgerServiceStub(channel)


def append(server, count: int) -> None:
    """`count` entries through the ledger's own append, as a commit writes them."""
    entries = [
        chain.Entry("produce_commit", "run-1", f"listing-{i}", "order-1", 10 + i)
        for i in range(count)
    ]
    with server.store.transaction(write=True) as session:
        chain.append(session, entries)


def verify(stub, checkpoint: str = "") -> lpb.VerifyLedgerResponse:
    return stub.VerifyLedger(lpb.VerifyLedgerRequest(checkpoint=checkpoint))


def test_checkpoint_signs_the_checked_head(server, signed, signer_key):
    """The checkpoint names the last entry and its hash, verifies with the public key file
    alone, and is stored: VerifyLedger holds the chain against it."""
    append(server, 3)
    made = signed.CreateLedgerCheckpoint(lpb.CreateLedgerCheckpointRequest())
    last = rows(server)[-1]
    assert (made.seq, made.head_hash) == (3, last.hash)
    parsed = signing.parse(made.document)
    signing.verify(parsed, trusted=signing.load_public_key(signer_key.with_name("ledger.key.pub")))
    assert parsed.key_id == made.key_id == signing.key_id(made.public_key)
    result = verify(signed, made.document)
    assert (result.intact, result.entries, result.checkpoints) == (True, 3, 1)


def test_a_consistent_rewrite_passes_the_chain_but_not_the_checkpoint(server, signed, plain):
    """A grant's household moved (subject_id) and every later hash recomputed: the chain alone
    holds, the checkpoints find it, narrowed to after the newest one that still matches."""
    append(server, 2)
    early = signed.CreateLedgerCheckpoint(lpb.CreateLedgerCheckpointRequest())
    append(server, 3)
    late = signed.CreateLedgerCheckpoint(lpb.CreateLedgerCheckpointRequest())
    rewrite(server, at=4, change={"subject_id": "listing-of-another"})
    assert verify(plain).intact  # what the chain alone cannot see
    sent = verify(plain, late.document)
    assert (sent.intact, sent.first_broken_seq) == (False, 1)
    assert "entry 5 differs from the checkpoint" in sent.reason
    assert "entries 1-5 were rewritten" in sent.reason
    stored = verify(signed)  # both stored checkpoints: the first still matches
    assert (stored.intact, stored.first_broken_seq, stored.checkpoints) == (False, 3, 2)
    assert "entries 3-5 were rewritten" in stored.reason
    assert verify(plain, early.document).intact


def test_a_tampered_entry_is_named(server, signed):
    """An amount changed without recomputing: the chain breaks at that entry."""
    append(server, 4)
    made = signed.CreateLedgerCheckpoint(lpb.CreateLedgerCheckpointRequest())
    with server.store.engine.begin() as conn, ledger_guard.suspended(conn):
        conn.execute(text("UPDATE ledger_entry SET quantity = 999 WHERE seq = 2"))
    result = verify(signed, made.document)
    assert (result.intact, result.first_broken_seq) == (False, 2)
    assert "altered" in result.reason


def test_truncated_at_the_end(server, signed, plain):
    """The newest entries deleted: nothing in the chain shows it, the checkpoint names the
    missing range."""
    append(server, 5)
    made = signed.CreateLedgerCheckpoint(lpb.CreateLedgerCheckpointRequest())
    with server.store.engine.begin() as conn, ledger_guard.suspended(conn):
        conn.execute(text("DELETE FROM ledger_entry WHERE seq >= 4"))
    assert verify(plain).intact
    result = verify(plain, made.document)
    assert (result.intact, result.first_broken_seq) == (False, 4)
    assert "entries 4-5 are missing: the ledger ends at 3" in result.reason


def test_truncated_in_the_middle_hashes_recomputed(server, signed, plain):
    """Entry 3 deleted and the later hashes recomputed: left with its seqs, the gap is named by
    the chain alone; renumbered too, by the checkpoint."""
    append(server, 5)
    made = signed.CreateLedgerCheckpoint(lpb.CreateLedgerCheckpointRequest())
    rewrite(server, remove=3, renumber=False)
    gap = verify(plain)
    assert (gap.intact, gap.first_broken_seq) == (False, 4)
    assert gap.reason.startswith("entry 3 was removed: seq jumps from 2 to 4")
    rewrite(server, remove=0)  # renumber 1, 2, 4, 5 as 1-4, hashes recomputed
    assert verify(plain).intact
    result = verify(plain, made.document)
    assert (result.intact, result.first_broken_seq) == (False, 5)
    assert "entry 5 is missing: the ledger ends at 4" in result.reason


def test_a_forged_checkpoint_is_invalid_argument(server, signed, plain):
    """A checkpoint whose seq was edited no longer verifies: INVALID_ARGUMENT naming it."""
    append(server, 3)
    made = json.loads(signed.CreateLedgerCheckpoint(lpb.CreateLedgerCheckpointRequest()).document)
    for forged in ({**made, "seq": 2}, {**made, "key_id": "0" * 16}, {"seq": 1}):
        error = rpc_fails(
            lambda f=forged: verify(plain, json.dumps(f)), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert fields_of(error) == ["checkpoint"]


def test_a_stored_checkpoint_altered_is_no_checkpoint(server, signed):
    """A stored row whose head was edited fails its signature and is not counted."""
    append(server, 2)
    signed.CreateLedgerCheckpoint(lpb.CreateLedgerCheckpointRequest())
    assert verify(signed).checkpoints == 1
    with server.store.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_checkpoint SET seq = 1"))
    result = verify(signed)
    assert (result.intact, result.checkpoints) == (True, 0)


def test_no_checkpoint_without_a_key_or_over_a_broken_chain(server, signed, plain):
    """FAILED_PRECONDITION: a server without a key; an empty ledger; a broken chain."""
    create = lpb.CreateLedgerCheckpointRequest()
    rpc_fails(lambda: signed.CreateLedgerCheckpoint(create), grpc.StatusCode.FAILED_PRECONDITION)
    append(server, 2)
    rpc_fails(lambda: plain.CreateLedgerCheckpoint(create), grpc.StatusCode.FAILED_PRECONDITION)
    with server.store.engine.begin() as conn, ledger_guard.suspended(conn):
        conn.execute(text("UPDATE ledger_entry SET quantity = 1 WHERE seq = 1"))
    error = rpc_fails(
        lambda: signed.CreateLedgerCheckpoint(create), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "entry 1" in error.details()
    with server.store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger_checkpoint")).scalar_one() == 0


def test_the_hash_covers_every_column():
    """Every column of ledger_entry but the hashes is in the hash: changing any one changes it
    (a column added later and left out of the hash fails here)."""
    columns = {c.name for c in models.LedgerEntry.__table__.columns} - {"prev_hash", "hash"}
    base = chain.Entry("aid_grant", "run", "household", "programme", 1, 100)
    assert columns == {"seq", "time", *base.__dict__}
    digest = chain.entry_hash(7, chain.GENESIS, "2026-12-06T15:00:00.000000", base)
    variants = [
        chain.entry_hash(8, chain.GENESIS, "2026-12-06T15:00:00.000000", base),
        chain.entry_hash(7, "1" * 64, "2026-12-06T15:00:00.000000", base),
        chain.entry_hash(7, chain.GENESIS, "2026-12-06T15:00:00.000001", base),
    ]
    for name, value in base.__dict__.items():
        other = {**base.__dict__, name: value + 1 if isinstance(value, int) else value + "x"}
        variants.append(
            chain.entry_hash(7, chain.GENESIS, "2026-12-06T15:00:00.000000", chain.Entry(**other))
        )
    assert digest not in variants
    assert len(set(variants)) == len(variants)
