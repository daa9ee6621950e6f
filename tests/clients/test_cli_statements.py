"""`fupin statement …` through the CLI against a real server: table, JSON and CSV of each view,
their figures the rows' sums."""

from __future__ import annotations

import csv
import io
import json

from tests.season.test_statements import rows, stub, world  # noqa: F401  (the fixtures)


def test_a_producers_statement_in_three_formats(fupin, server, world):  # noqa: F811
    """JSON: the whole statement; CSV: the summary, the buyers, the members; a table of all."""
    coop = world["coop"]
    code, out, err = fupin("statement", "producer", coop, "--output", "json")
    assert code == 0, err
    whole = json.loads(out)
    divs = rows(server, "SELECT amount_fen FROM dividend WHERE producer_id = :p", p=coop)
    assert int(whole["dividends_fen"]) == sum(d["amount_fen"] for d in divs)
    code, out, err = fupin("statement", "producer", coop, "--output", "csv")
    assert code == 0, err
    (summary,) = csv.DictReader(io.StringIO(out))
    assert int(summary["sold_kg"]) == 1600 and int(summary["paid_fen"]) == 368_000
    code, out, err = fupin("statement", "producer", coop, "-o", "csv", "--part", "members")
    assert code == 0, err
    members = list(csv.DictReader(io.StringIO(out)))
    assert sorted(m["household_id"] for m in members) == sorted(world["members"])
    assert sum(int(m["dividends_fen"]) for m in members) == 300_001
    code, out, err = fupin("statement", "producer", coop, "-o", "csv", "--part", "buyers")
    assert {r["buyer_id"] for r in csv.DictReader(io.StringIO(out))} == set(world["buyers"])
    code, out, err = fupin("statement", "producer", coop)
    assert code == 0, err
    assert "3,000.01" in out and "REJECT_GRADE" in out and world["members"][0] in out


def test_a_buyers_dues_and_the_villages_income(fupin, server, world):  # noqa: F811
    """Per shipment owed and paid as CSV; per village income as CSV and a table with totals."""
    buyer = world["buyers"][0]
    code, out, err = fupin("statement", "buyer", buyer, "--output", "csv")
    assert code == 0, err
    dues = list(csv.DictReader(io.StringIO(out)))
    ships = rows(server, "SELECT id, paid_fen FROM shipment WHERE buyer_id = :b", b=buyer)
    assert {d["shipment_id"]: int(d["paid_fen"]) for d in dues} == {
        s["id"]: s["paid_fen"] for s in ships
    }
    code, out, err = fupin("statement", "buyer", buyer)
    assert code == 0, err
    assert "owed" in out and "3,000.00" in out  # paid, in yuan
    code, out, err = fupin("statement", "villages", "--year", "2020", "--output", "csv")
    assert code == 0, err
    villages = {v["village_id"]: v for v in csv.DictReader(io.StringIO(out))}
    income = rows(
        server,
        "SELECT i.produce_fen + i.dividends_fen + i.aid_fen AS fen FROM household_income i "
        "JOIN household h ON h.id = i.household_id WHERE h.village_id = :v AND i.year = 2020",
        v=world["village"].id,
    )
    assert int(villages[world["village"].id]["total_fen"]) == sum(r["fen"] for r in income)
    code, out, err = fupin("statement", "villages", "--year", "2020")
    assert code == 0, err
    assert "4,000.01 yuan" in out
    code, _out, err = fupin("statement", "villages", "--year", "1800")
    assert code == 1 and "year" in err
