"""`fupin demo` goes on through the season: every figure it prints about the season equals the
sum of the rows behind it (shipments, payments, dividends, grants signed for, status history),
read back from its database with plain SQL; the ledger holds an entry for each step and
`fupin aid verify` still verifies it through a server on that database."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from clients.cli import main
from registry.access.policy import Role
from server.server import create_server
from server.settings import Settings

FUPIN = str(Path(sys.executable).with_name("fupin"))


def yuan(out: str, label: str) -> int:
    """The fen of the printed line `label   1,234.56`."""
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d,]+\.\d\d)$", out, re.MULTILINE)
    assert match, f"no line {label!r} in\n{out}"
    return round(float(match.group(1).replace(",", "")) * 100)


def one(conn, sql: str) -> int:
    return int(conn.execute(text(sql)).scalar() or 0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[str, Path]:
    """The demo's stdout and its SQLite database (in a process of its own: it configures
    logging for its stderr)."""
    out_dir = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [FUPIN, "--lang", "en", "demo", "--out", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, out_dir


@pytest.mark.slow
def test_the_seasons_figures_are_the_databases(demo) -> None:
    out, out_dir = demo
    engine = create_engine(f"sqlite:///{out_dir / 'demo.db'}")
    with engine.connect() as conn:
        shipments = one(conn, "SELECT count(*) FROM shipment WHERE state = 3")
        received = one(conn, "SELECT sum(received_kg) FROM shipment")
        rejected = conn.execute(
            text("SELECT rejected_kg, reject_reason FROM shipment WHERE rejected_kg > 0")
        ).all()
        paid = one(conn, "SELECT sum(amount_fen) FROM payment")
        to_growers = one(
            conn,
            "SELECT sum(p.amount_fen) FROM payment p JOIN producer r ON r.id = p.producer_id "
            "WHERE r.household_id IS NOT NULL",
        )
        dividends = one(conn, "SELECT sum(amount_fen) FROM dividend")
        signed = conn.execute(
            text("SELECT amount_fen FROM grant_disbursement WHERE state = 2")
        ).scalars()
        signed = list(signed)
        changed = one(
            conn,
            "SELECT count(DISTINCT household_id) FROM status_change "
            "WHERE reason LIKE 'income 2020: %'",
        )
        kinds = dict(
            conn.execute(text("SELECT kind, count(*) FROM ledger_entry GROUP BY kind")).all()
        )
        runs = conn.execute(text("SELECT state FROM match_run")).scalars().all()
    engine.dispose()
    line = re.search(r"(\d+) shipments received: ([\d,.]+) t, ([\d,.]+) t rejected", out)
    assert line, out
    assert int(line.group(1)) == shipments == kinds["shipment_receipt"] == kinds["payment"]
    assert float(line.group(2)) == round(received / 1000, 1)
    assert len(rejected) == 1 and rejected[0][1] == 1  # one shipment, REJECT_GRADE
    assert float(line.group(3)) == round(rejected[0][0] / 1000, 1) > 0
    assert yuan(out, "paid by the buyers (yuan)") == paid > 0
    assert yuan(out, "to household growers") == to_growers
    assert yuan(out, "to cooperatives") == paid - to_growers
    assert yuan(out, "paid out by cooperatives to members (yuan)") == dividends > 0
    assert kinds["dividend"] > 0
    assert signed == [300_000] and kinds["aid_receipt"] == kinds["aid_disbursement"] == 1
    assert yuan(out, "medical grant signed for (yuan)") == 300_000
    # What households gained, from the rows that paid it, not from their income records.
    assert yuan(out, "produce sales") == to_growers
    assert yuan(out, "dividends") == dividends
    assert yuan(out, "aid received") == 300_000
    assert yuan(out, "total") == to_growers + dividends + 300_000
    status = re.search(r"status the income changed: (\d+) \((\d+) lifted out\)", out)
    assert status and int(status.group(1)) == changed > 0
    assert runs == [4, 4]  # the produce run and the medical-aid run, COMMITTED
    assert (out_dir / "demo_money.png").stat().st_size > 10_000


@pytest.mark.slow
def test_the_ledger_verifies_after_the_demo(demo, capsys, monkeypatch) -> None:
    """`fupin aid verify` through a server on the demo's database: intact, exit 0."""
    _, out_dir = demo
    settings = Settings(
        database_url=f"sqlite:///{out_dir / 'demo.db'}",
        address="127.0.0.1:0",
        admin_key_file=out_dir / "admin.key",
        grace_s=1,
    )
    running = create_server(settings)
    running.server.start()
    try:
        assert running.keys is not None
        monkeypatch.setenv("FUPIN_API_KEY", running.keys.create(Role.ADMIN).secret)
        code = main(["aid", "verify", "--target", f"127.0.0.1:{running.port}", "-o", "json"])
    finally:
        running.server.stop(0).wait()
        running.close()
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"intact": true' in out
