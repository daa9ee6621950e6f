"""`fupin shipments …` through the CLI against a real server."""

from __future__ import annotations

import csv
import io
import json

from fupin.registry.v1 import registry_service_pb2 as api
from tests.season.conftest import season  # noqa: F401  (the fixture)
from tests.season.test_disbursements import grants  # noqa: F401  (the fixture)
from tests.season.test_payments import coop, stub  # noqa: F401  (the fixtures)


def test_dispatch_receive_cancel_and_list_as_csv(fupin, season):  # noqa: F811
    """Each step prints the shipment; a refused one exits 1 naming the field; list as CSV."""
    code, out, err = fupin("shipments", "list", "--run", season.run_id, "--output", "json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert sorted(int(r["kg"]) for r in rows) == [100, 200, 300, 400]
    first, second = sorted(rows, key=lambda r: int(r["kg"]))[:2]
    assert fupin("shipments", "dispatch", first["id"])[0] == 0
    code, out, err = fupin(
        "shipments", "receive", first["id"], "--received-kg", "95", "--rejected-kg", "5"
    )
    assert code == 1
    assert "reject_reason" in err
    code, out, err = fupin(
        "shipments",
        "receive",
        first["id"],
        "--received-kg",
        "95",
        "--rejected-kg",
        "5",
        "--reject-reason",
        "grade",
        "--paid-price-fen",
        "250",
        "--output",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["state"] == "SHIPMENT_RECEIVED"
    code, out, err = fupin("shipments", "cancel", second["id"], "--reason", "plant full")
    assert code == 0, err
    assert "SHIPMENT_CANCELLED" in out
    code, out, err = fupin("shipments", "list", "--run", season.run_id, "--output", "csv")
    assert code == 0, err
    table = {r["id"]: r for r in csv.DictReader(io.StringIO(out))}
    assert table[first["id"]]["state"] == "SHIPMENT_RECEIVED"
    assert (table[first["id"]]["received_kg"], table[first["id"]]["rejected_kg"]) == ("95", "5")
    assert table[second["id"]]["state"] == "SHIPMENT_CANCELLED"
    code, out, err = fupin("shipments", "list", "--state", "committed")
    assert code == 0, err
    assert out.count("SHIPMENT_COMMITTED") == 2


def test_a_household_ledger_shows_its_sales(fupin, season):  # noqa: F811
    """`aid ledger --household` lists the grower's commits and receipt, and the money it got."""
    code, out, _ = fupin("shipments", "list", "--run", season.run_id, "--output", "json")
    first = min((json.loads(line) for line in out.splitlines()), key=lambda r: int(r["kg"]))
    fupin("shipments", "dispatch", first["id"])
    fupin("shipments", "receive", first["id"], "--received-kg", "100", "--paid-price-fen", "310")
    code, out, err = fupin(
        "shipments", "pay", first["id"], "--amount-fen", "31001", "--paid-on", "2020-06-20"
    )
    assert code == 1
    assert "amount_fen" in err
    code, out, err = fupin(
        "shipments", "pay", first["id"], "--amount-fen", "31000", "--paid-on", "2020-06-20"
    )
    assert code == 0, err
    code, out, err = fupin("aid", "ledger", "--household", season.household_id)
    assert code == 0, err
    assert out.count("PRODUCE_COMMIT") == 4
    assert "SHIPMENT_DISPATCH" in out and "SHIPMENT_RECEIPT" in out and "PAYMENT" in out
    last = out.strip().splitlines()[-1]
    assert last == "received 310.00 yuan: aid 0.00, produce sales 310.00, dividends 0.00"
    code, out, err = fupin("aid", "ledger", "--household", "hh-nobody")
    assert (code, out) == (0, "")


def test_dividends_and_the_account(fupin, coop):  # noqa: F811
    """The buyer pays 100 yuan; the cooperative pays 60 out 5:3:2; the account shows both."""
    code, _, err = fupin(
        "shipments", "pay", coop.shipment_id, "--amount-fen", "10000", "--paid-on", "2020-06-20"
    )
    assert code == 0, err
    code, out, err = fupin("dividends", "pay", coop.producer_id, "--amount-fen", "6000")
    assert code == 0, err
    assert "paid 60.00 yuan to 3 member households" in out
    assert [line.split()[-1] for line in out.splitlines()[1:4]] == ["30.00", "18.00", "12.00"]
    code, out, err = fupin("account", coop.producer_id, "--output", "json")
    assert code == 0, err
    account = json.loads(out)
    assert (account["paid_fen"], account["dividends_fen"]) == ("10000", "6000")
    code, out, err = fupin("account", coop.producer_id)
    assert "not yet paid out (yuan)     40.00" in out
    code, out, err = fupin("dividends", "pay", coop.producer_id, "--amount-fen", "4001")
    assert code == 1
    assert "amount_fen" in err


def test_grants_disbursed_signed_and_reported(fupin, grants, registry):  # noqa: F811
    """disburse, sign and delivery through the CLI (the programme by name); a second
    disbursement exits 1."""
    g = grants[0]
    key = (g.run_id, g.household_id, g.programme_id)
    code, out, err = fupin("grants", "disburse", *key, "--channel", "bank-card", "--output", "json")
    assert code == 0, err
    assert json.loads(out)["state"] == "GRANT_DISBURSED"
    code, _, err = fupin("grants", "disburse", *key, "--channel", "cash")
    assert code == 1
    assert "GRANT_DISBURSED" in err
    assert fupin("grants", "sign", *key, "--by", "village")[0] == 0
    code, out, err = fupin("grants", "delivery")
    assert code == 0, err
    assert "4,000.00" in out and "2,000.00" in out
    name = registry.GetAidProgram(api.GetAidProgramRequest(id=g.programme_id)).display_name
    assert f"{g.programme_id}  {name}" in out
    code, out, err = fupin("grants", "delivery", "--output", "json")
    (programme,) = json.loads(out)["programmes"]
    assert (programme["committed_fen"], programme["received_fen"]) == ("400000", "200000")


def test_shipments_and_the_ledger_name_producer_and_buyer(fupin, season, registry, server):  # noqa: F811
    """Shipments (table, CSV, one shipment) and the ledger of the run show the producer's and
    the buyer's names beside the ids, in English and Chinese, each kind read in one
    BatchGetResources call for all rows and none per row."""
    from tests.clients.test_cli_printers import calls

    producer = registry.GetProducer(api.GetProducerRequest(id=season.producer_id)).display_name
    buyer = registry.GetBuyer(api.GetBuyerRequest(id=season.buyer_id)).display_name
    before = calls(server, "BatchGetResources")
    code, out, err = fupin("shipments", "list", "--run", season.run_id)
    assert code == 0, err
    assert calls(server, "BatchGetResources") - before == 2  # producers, buyers: 4 rows
    assert "PRODUCER NAME" in out and "BUYER NAME" in out
    rows = [line for line in out.splitlines()[1:] if line.strip()]
    assert len(rows) == 4 and all(producer in r and buyer in r for r in rows)
    code, out, err = fupin("shipments", "list", "--run", season.run_id, "--output", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert {(r["producer_id#name"], r["buyer_id#name"]) for r in table} == {(producer, buyer)}
    code, out, err = fupin("shipments", "get", table[0]["id"])
    assert code == 0, err
    assert f"producer_name  {producer}" in out and f"buyer_name     {buyer}" in out
    before = calls(server, "BatchGetResources")
    code, out, err = fupin("aid", "ledger", "--run", season.run_id)
    assert code == 0, err
    assert calls(server, "BatchGetResources") - before == 4  # listings, orders; their owners
    commits = [line for line in out.splitlines() if "PRODUCE_COMMIT" in line]
    assert len(commits) == 4 and all(producer in r and buyer in r for r in commits)
    code, out, err = fupin("--lang", "zh-CN", "aid", "ledger", "--run", season.run_id)
    assert code == 0, err
    assert "对方" in out.splitlines()[0]  # COUNTERPART
    assert "PRODUCE_COMMIT" not in out and all(producer in r for r in out.splitlines()[1:])
    code, out, err = fupin("aid", "ledger", "--run", season.run_id, "--output", "csv")
    entries = list(csv.DictReader(io.StringIO(out)))
    assert {(e["subject_name"], e["counterpart_name"]) for e in entries} == {(producer, buyer)}


def test_get_shows_the_names_of_the_ids(fupin, season, registry):  # noqa: F811
    """`fupin get listings ID` shows the producer's name under its id (and beside it in
    CSV); JSON keeps the ids."""
    producer = registry.GetProducer(api.GetProducerRequest(id=season.producer_id)).display_name
    code, out, err = fupin("get", "listings", season.listing_id)
    assert code == 0, err
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("producer_id "))
    assert lines[at + 1].split(None, 1) == ["producer_name", producer]
    code, out, err = fupin("get", "listings", season.listing_id, "--output", "json")
    assert "producer_name" not in out and season.producer_id in out
    code, out, err = fupin("get", "listings", season.listing_id, "--output", "csv")
    (row,) = csv.DictReader(io.StringIO(out))
    assert (row["producer_id"], row["producer_name"]) == (season.producer_id, producer)


def test_a_days_steps_from_csv_files(fupin, season, tmp_path):  # noqa: F811
    """batch-dispatch, batch-receive (a refused row names requests[i] and stores nothing),
    batch-pay, each one CSV file and one call; a rerun with the file's request ids replays."""
    code, out, err = fupin("shipments", "list", "--run", season.run_id, "--output", "json")
    rows = sorted((json.loads(line) for line in out.splitlines()), key=lambda r: int(r["kg"]))
    ids = [r["id"] for r in rows]
    dispatch = tmp_path / "dispatch.csv"
    dispatch.write_text("id,request_id\n" + "".join(f"{i},d-{i}\n" for i in ids))
    code, out, err = fupin("shipments", "batch-dispatch", str(dispatch), "--output", "csv")
    assert code == 0, err
    assert [r["state"] for r in csv.DictReader(io.StringIO(out))] == ["SHIPMENT_DISPATCHED"] * 4
    assert fupin("shipments", "batch-dispatch", str(dispatch))[0] == 0  # replayed
    receive = tmp_path / "receive.csv"
    lines = [f"{i},{int(r['kg']) - 10},10,grade" for i, r in zip(ids, rows, strict=True)]
    receive.write_text("id,received_kg,rejected_kg,reject_reason\n" + "\n".join(lines) + "\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,received_kg,rejected_kg,reject_reason\n" + lines[0] + f"\n{ids[1]},999,0,\n")
    code, out, err = fupin("shipments", "batch-receive", str(bad))
    assert code == 1
    assert "requests[1].received_kg" in err
    code, out, err = fupin("shipments", "batch-receive", str(receive), "--output", "json")
    assert code == 0, err
    assert {json.loads(line)["state"] for line in out.splitlines()} == {"SHIPMENT_RECEIVED"}
    pay = tmp_path / "pay.csv"
    pay.write_text("shipment_id,amount_fen,paid_on\n" + f"{ids[0]},9000,2020-06-15\n")
    code, out, err = fupin("shipments", "batch-pay", str(pay), "--output", "json")
    assert code == 0, err
    assert json.loads(out)["paid_fen"] == "9000"


def test_a_cooperatives_payouts_from_a_csv_file(fupin, coop, tmp_path):  # noqa: F811
    """Two payouts of one cooperative by one batch-pay: each split 5:3:2."""
    code, _, err = fupin(
        "shipments", "pay", coop.shipment_id, "--amount-fen", "10000", "--paid-on", "2020-06-20"
    )
    assert code == 0, err
    payouts = tmp_path / "payouts.csv"
    payouts.write_text(
        "producer_id,amount_fen,paid_on\n"
        f"{coop.producer_id},6000,2020-06-20\n{coop.producer_id},4000,2020-06-20\n"
    )
    code, out, err = fupin("dividends", "batch-pay", str(payouts))
    assert code == 0, err
    yuan = [line.split()[-1] for line in out.splitlines()[1:]]
    assert yuan == ["30.00", "18.00", "12.00", "20.00", "12.00", "8.00"]
