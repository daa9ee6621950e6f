"""`fupin aid …` in-process against a real server."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import text

from clients.cli import main
from fupin.registry.v1 import registry_service_pb2 as api
from registry.ledger import guard as ledger_guard
from tests.aidfixtures import poor_households, programme
from tests.ledgertamper import rewrite, rows


@pytest.fixture
def medical(registry):
    """Three ill households and medical aid for two of them (2,000 yuan each)."""
    poor_households(registry, 3)
    return programme(registry, budget_fen=400_000, amount_fen=200_000)


def test_allocate_commit_ledger_verify_chart(fupin, medical, server, tmp_path):
    """allocate --commit shows progress and grants; ledger lists them; verify passes, then
    fails once an entry is altered; the chart is written."""
    code, out, err = fupin(
        "aid", "allocate", "--programme", medical.id, "--commit", "--chart", str(tmp_path / "r.png")
    )
    assert code == 0, err
    assert "COMMITTED, OPTIMAL" in out
    assert "2 grants, 4,000.00 yuan to 2 households" in out
    assert "1 eligible household-programme pairs, BUDGET_EXHAUSTED_BY_HIGHER_NEED" in out
    assert "PROPOSED" in err
    assert (tmp_path / "r.png").stat().st_size > 0
    code, out, _ = fupin("aid", "ledger", "--programme", medical.id)
    assert code == 0
    assert out.count("AID_GRANT") == 2
    code, out, _ = fupin("aid", "spending")
    assert "4,000.00" in out
    code, out, _ = fupin("aid", "spending", "--output", "csv")
    header, *lines = out.splitlines()
    assert header == "programme_id,display_name,budget_fen,spent_fen,remaining_fen,grants"
    assert any(line.startswith(medical.id) and ",400000,400000,0,2" in line for line in lines)
    assert fupin("aid", "chart", "--out", str(tmp_path / "c.png"))[0] == 0
    assert (tmp_path / "c.png").stat().st_size > 0
    code, out, _ = fupin("aid", "verify")
    assert (code, out.strip()) == (0, "ledger intact: 2 entries checked")
    with server.store.engine.begin() as conn, ledger_guard.suspended(conn):
        conn.execute(text("UPDATE ledger_entry SET amount_fen = 5 WHERE amount_fen > 0"))
    code, out, _ = fupin("aid", "verify")
    assert code == 1
    assert "BROKEN at entry" in out


def test_export_has_no_household_ids(fupin, medical, registry):
    """The export's CSV names programmes and tokens, never household ids."""
    fupin("aid", "allocate", "--programme", medical.id, "--commit")
    code, out, _ = fupin("aid", "export")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2
    assert all(r["programme_id"] == medical.id for r in rows)
    households = registry.ListHouseholds(api.ListHouseholdsRequest()).households
    assert len(households) == 3
    for h in households:
        assert h.id not in out
        assert h.card_number not in out


def test_unknown_programme_exits_1(fupin, medical):
    code, _, err = fupin("aid", "allocate", "--programme", "nope")
    assert code == 1
    assert "selection.programme_ids[0]" in err


def test_an_office_allocates_and_reads_its_county(fupin, medical, server, monkeypatch):
    """With a Zhao'an office key: allocate --commit over its county (no --region), then its
    spending; a Puning office key sees neither the run nor the grants."""
    from registry.access.policy import Role
    from tests.factories import PUNING, ZHAOAN

    zhaoan = server.keys.create(Role.OFFICE, ZHAOAN).secret
    monkeypatch.setenv("FUPIN_API_KEY", zhaoan)
    code, out, err = fupin("aid", "allocate", "--programme", medical.id, "--commit")
    assert code == 0, err
    assert "COMMITTED" in out and "2 grants" in out
    code, out, err = fupin("runs", "list", "--output", "json")
    assert code == 0 and [json.loads(line)["kind"] for line in out.splitlines()] == ["AID"], err
    code, out, _ = fupin("aid", "ledger", "--programme", medical.id)
    assert (code, out.count("AID_GRANT")) == (0, 2)
    monkeypatch.setenv("FUPIN_API_KEY", server.keys.create(Role.OFFICE, PUNING).secret)
    code, out, _ = fupin("aid", "ledger")
    assert (code, out.count("AID_GRANT")) == (0, 0)
    code, out, _ = fupin("runs", "list", "--output", "json")
    assert (code, out) == (0, "")


def test_keygen_checkpoint_verify_against_a_rewrite(
    fupin, medical, server, signer, signer_key, tmp_path, capsys
):
    """keygen writes a key pair (0600) and never overwrites it; checkpoint --out signs the head
    on the server with the key; verify --checkpoint passes, checks the file's signature here
    (a wrong --public-key or an edited file exits 1 without asking the server), and fails once
    a grant's household is moved with every hash recomputed."""
    key = tmp_path / "other.key"
    assert main(["aid", "keygen", str(key)]) == 0  # no server: no --target
    assert "key " in capsys.readouterr().out
    assert key.stat().st_mode & 0o777 == 0o600 and key.with_name("other.key.pub").exists()
    assert main(["aid", "keygen", str(key)]) == 2
    assert fupin("aid", "allocate", "--programme", medical.id, "--commit")[0] == 0
    saved = tmp_path / "head.json"
    at_signer = ["--target", f"127.0.0.1:{signer.port}"]
    assert main(["aid", "checkpoint", "--out", str(saved), *at_signer]) == 0
    assert "checkpoint: entry 2" in capsys.readouterr().out
    public = str(signer_key) + ".pub"
    code, out, _ = fupin("aid", "verify", "--checkpoint", str(saved), "--public-key", public)
    assert (code, out.strip()) == (0, "ledger intact: 2 entries checked, 1 checkpoints held")
    code, out, _ = fupin(
        "aid", "verify", "--checkpoint", str(saved), "--public-key", str(key) + ".pub"
    )
    assert code == 1 and "not the trusted key" in out
    edited = json.loads(saved.read_text())
    edited["head_hash"] = "0" * 64
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    code, out, _ = fupin("aid", "verify", "--checkpoint", str(tmp_path / "edited.json"))
    assert code == 1 and "a signature that does not verify" in out
    _, second = rows(server)
    rewrite(server, at=1, change={"subject_id": second.subject_id})
    assert fupin("aid", "verify")[0] == 0  # the chain alone holds
    code, out, _ = fupin("aid", "verify", "--checkpoint", str(saved), "--public-key", public)
    assert code == 1
    assert "ledger BROKEN at entry 1: entry 2 differs from the checkpoint" in out
