"""`fupin aid export-ledger FILE` and `fupin aid verify --entries FILE --checkpoint FILE
--public-key KEY`: the ledger checked from files alone, against a signed checkpoint. The
verifier is given an address where no server listens: it must not need one."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from clients import ledger_file
from clients.cli import main
from fupin.registry.v1 import ledger_service_pb2 as lpb
from registry.ledger import guard as ledger_guard
from registry.ledger.servicer import KINDS
from tests.aidfixtures import poor_households, programme
from tests.ledgertamper import rewrite, rows

NOWHERE = "127.0.0.1:9"  # nothing listens: a verifier that called a server would fail


@pytest.fixture
def signed(fupin, registry, server, signer, signer_key, tmp_path):
    """Five aid grants (ledger entries 1-5) and a checkpoint of entry 5, signed by the server's
    key; returns (checkpoint file, public key file)."""
    poor_households(registry, 5)
    medical = programme(registry, budget_fen=1_000_000, amount_fen=200_000)
    assert fupin("aid", "allocate", "--programme", medical.id, "--commit")[0] == 0
    head = tmp_path / "head.json"
    assert (
        main(["aid", "checkpoint", "--out", str(head), "--target", f"127.0.0.1:{signer.port}"]) == 0
    )
    return head, str(signer_key) + ".pub"


def export(fupin, path) -> list[dict]:
    code, out, err = fupin("aid", "export-ledger", str(path))
    assert code == 0, err
    entries = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert f"{len(entries)} ledger entries written to {path}" in out
    assert not path.with_name(path.name + ".part").exists()
    return entries


def offline(capsys, entries, head, public, *more: str, lang: str = "en") -> tuple[int, str]:
    argv = ["--lang", lang, "aid", "verify", "--entries", str(entries), "--checkpoint", str(head)]
    code = main([*argv, "--public-key", public, "--target", NOWHERE, *more])
    return code, capsys.readouterr().out.strip()


def test_a_clean_export_verifies_offline(fupin, server, signed, tmp_path, capsys):
    """The export holds the database's entries as they are hashed, and checks out up to the
    signed head, with no server."""
    head, public = signed
    entries = export(fupin, tmp_path / "ledger.jsonl")
    stored = rows(server)
    assert [(e["seq"], e["hash"], e["prev_hash"]) for e in entries] == [
        (r.seq, r.hash, r.prev_hash) for r in stored
    ]
    assert [e["kind"] for e in entries] == ["aid_grant"] * 5
    code, out = offline(capsys, tmp_path / "ledger.jsonl", head, public)
    assert code == 0, out
    assert out.startswith("export intact: 5 entries checked; entry 5 has the hash the checkpoint")
    code, out = offline(capsys, tmp_path / "ledger.jsonl", head, public, lang="zh-CN")
    assert code == 0 and "导出" in out, out


def test_a_tampered_entry_is_named_by_seq(fupin, server, signed, tmp_path, capsys):
    """An amount changed in the database (hash not recomputed) and exported: entry 3, as the
    server's own VerifyLedger says."""
    head, public = signed
    with server.store.engine.begin() as conn, ledger_guard.suspended(conn):
        conn.execute(text("UPDATE ledger_entry SET amount_fen = 5 WHERE seq = 3"))
    export(fupin, tmp_path / "ledger.jsonl")
    code, out = offline(capsys, tmp_path / "ledger.jsonl", head, public)
    assert code == 1
    assert out == (
        "ledger export BROKEN: entry 3: its content does not match its hash: it was altered"
    )
    code, out = offline(capsys, tmp_path / "ledger.jsonl", head, public, "--output", "json")
    here = json.loads(out)
    code, out, _ = fupin("aid", "verify", "--output", "json")
    there = json.loads(out)
    assert here["first_broken_seq"] == there["first_broken_seq"] == "3"


def test_a_consistent_rewrite_before_the_checkpoint_is_caught(
    fupin, server, signed, tmp_path, capsys
):
    """Entry 2's household moved and every later hash recomputed: the exported chain holds,
    the checkpoint does not."""
    head, public = signed
    first, *_ = rows(server)
    rewrite(server, at=2, change={"subject_id": first.subject_id})
    export(fupin, tmp_path / "ledger.jsonl")
    argv = ["aid", "verify", "--entries", str(tmp_path / "ledger.jsonl"), "--target", NOWHERE]
    assert main(argv) == 0  # the chain alone holds
    assert "no checkpoint" in capsys.readouterr().out
    code, out = offline(capsys, tmp_path / "ledger.jsonl", head, public)
    assert code == 1
    assert out.startswith("ledger export BROKEN: entry 5 differs from the checkpoint of ")
    assert "entries 1-5 were rewritten" in out


def test_a_truncated_export_names_the_missing_range(fupin, signed, tmp_path, capsys):
    """The last two entries cut from the file: 4-5 missing against the checkpoint; entry 3
    cut from the middle: a gap named as such."""
    head, public = signed
    path = tmp_path / "ledger.jsonl"
    export(fupin, path)
    header, *lines = path.read_text().splitlines(keepends=True)
    (tmp_path / "cut.jsonl").write_text(header + "".join(lines[:3]))
    code, out = offline(capsys, tmp_path / "cut.jsonl", head, public)
    assert code == 1
    assert out.startswith(
        "ledger export BROKEN: entries 4-5 are missing: the export ends at 3, the checkpoint of "
    )
    (tmp_path / "gap.jsonl").write_text(header + "".join(lines[:2] + lines[3:]))
    code, out = offline(capsys, tmp_path / "gap.jsonl", head, public)
    assert (code, out) == (
        1,
        "ledger export BROKEN: entry 3 is missing from the export: seq jumps from 2 to 4",
    )


def test_offline_verification_needs_the_trusted_key(fupin, signed, tmp_path, capsys):
    """A checkpoint with --entries and no --public-key proves nothing: refused (exit 2)."""
    head, _ = signed
    path = tmp_path / "ledger.jsonl"
    export(fupin, path)
    argv = ["aid", "verify", "--entries", str(path), "--checkpoint", str(head)]
    assert main([*argv, "--target", NOWHERE]) == 2
    assert "--public-key" in capsys.readouterr().err


def test_the_export_spells_each_kind_as_the_server_stores_and_hashes_it():
    """Every kind the server lists maps back to its stored word, and every kind has one."""
    assert {ledger_file.kind_word(value): word for word, value in KINDS.items()} == {
        word: word for word in KINDS
    }
    named = set(lpb.LedgerEntryKind.values()) - {lpb.LEDGER_ENTRY_KIND_UNSPECIFIED}
    assert set(KINDS.values()) == named


def test_an_export_that_fails_leaves_no_file(tmp_path, capsys):
    """No server to read from: the export fails and leaves neither FILE nor FILE.part."""
    path = tmp_path / "ledger.jsonl"
    assert main(["aid", "export-ledger", str(path), "--target", NOWHERE, "--timeout", "2"]) != 0
    assert list(tmp_path.iterdir()) == []
