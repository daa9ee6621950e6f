"""A county's year from the CLI (every step a `fupin` command; only the alert stream is read
through the API, as an office's client would): 1,000 households surveyed,
one village's poor households identified through review and public notice (one objection
upheld), the next year's re-survey (a dry run's diff, then the commit), and a flood on one
village (its households rise to the top of the risk ranking and an alert streams), the
cadres' work (a village's poor households contracted by rank, visits logged, the cadres
assessed, one recalled and its households contracted again), aid granted to the county, and
the year's reports (every figure against the database's rows; the cadre report's visits: the
recalled cadre's three)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

from google.protobuf import json_format

from bench import data
from clients import csvio
from clients.auth import open_channel
from fupin.registry.v1 import resources_pb2 as pb
from fupin.registry.v1 import year_service_pb2 as ypb
from fupin.registry.v1 import year_service_pb2_grpc as ypb_grpc
from registry.access.policy import Role
from tests import factories
from tests.registry.reports import report_oracle as oracle

IDENTIFIED = 12  # of the first village's impoverished households (each takes 5 CLI calls)


def create(fupin, tmp_path, kind: str, message) -> str:
    """`fupin create KIND --file F.json` of a factories message; the new id."""
    path = tmp_path / f"{kind}.json"
    path.write_text(json.dumps(json_format.MessageToDict(message)), encoding="utf-8")
    code, out, err = fupin("create", kind, "--file", str(path), "--quiet")
    assert code == 0, err
    return out.strip()


def test_a_county_year(fupin, server, tmp_path, monkeypatch):
    for _ in range(5):
        create(fupin, tmp_path, "villages", factories.village())
    _, out, _ = fupin("list", "villages", "--output", "json")
    villages = [json_format.ParseDict(json.loads(line), pb.Village()) for line in out.splitlines()]
    county = villages[0].admin_code[:6]
    rows = list(data.households([v.id for v in villages], 1000, seed=16))
    survey = tmp_path / "2026.csv"
    with survey.open("w", newline="") as out:
        csvio.write("households", rows, out)
    code, out, err = fupin("import", "households", str(survey))
    assert code == 0 and "imported 1,000 households" in out, err

    keys = {
        name: server.keys.create(Role.OFFICE, scope).secret
        for name, scope in (
            ("village", villages[0].admin_code),
            ("township", villages[0].admin_code[:9]),
            ("county", county),
        )
    }

    def as_(who: str, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setenv("FUPIN_API_KEY", keys[who])
        code, out, err = fupin(*argv)
        assert code == 0, err
        return code, out, err

    where = f'village_id = "{villages[0].id}" AND status = IMPOVERISHED'
    _, out, _ = as_("village", "list", "households", "--filter", where, "--quiet")
    poor = out.split()[:IDENTIFIED]
    assert len(poor) == IDENTIFIED
    cases = []
    for household_id in poor:
        _, out, _ = as_("village", "case", "propose", household_id, "--output", "json")
        case_id = json.loads(out)["id"]
        as_("village", "case", "review", case_id, "--approve", "--for", "40", "--against", "2")
        as_(
            "village", "case", "notice", case_id,
            "--from", "2026-03-01", "--to", "2026-03-07", "--place", "村务公开栏",
        )  # fmt: skip
        cases.append(case_id)
    _, out, _ = as_("county", "notice", villages[0].id)
    assert len(out.strip().splitlines()) == IDENTIFIED + 1  # the heading and one line each
    objected = as_(
        "township", "case", "object", cases[0], "--objector", "村民", "--text", "有营业收入",
        "--output", "json",
    )[1]  # fmt: skip
    objection = json.loads(objected)["objections"][0]["id"]
    as_("county", "case", "resolve", cases[0], str(objection), "--uphold", "--resolution", "属实")
    for case_id in cases[1:]:
        as_("county", "case", "approve", case_id)
        as_("county", "case", "file", case_id)
    _, out, _ = as_("county", "case", "list", "--state", "filed", "--output", "json")
    assert len(out.splitlines()) == IDENTIFIED - 1
    _, out, _ = as_("county", "case", "list", "--state", "rejected", "--output", "json")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [cases[0]]

    # the next year: every 10th household's income changes, 3 are gone, 5 are new
    next_year = []
    for i, row in enumerate(rows[3:], start=3):
        if i % 10 == 0:
            row.indicators.income_per_capita_fen += 250_000
        next_year.append(row)
    for i in range(5):
        new = pb.Household()
        new.CopyFrom(rows[i])
        new.card_number = f"NEW2027-{i}"
        next_year.append(new)
    resurvey = tmp_path / "2027.csv"
    with resurvey.open("w", newline="") as out:
        csvio.write("households", next_year, out)
    argv = ("resurvey", str(resurvey), "--year", "2027", "--region", county)
    _, out, err = as_("county", *argv, "--dry-run")
    assert "1002 households, 99 updated, 898 unchanged, 5 new, 3 not surveyed" in out
    assert "income_per_capita_fen" in out and "dry run" in err
    _, out, _ = as_("county", "case", "list", "--state", "proposed", "--output", "json")
    assert out == ""
    _, out, _ = as_("county", *argv)
    assert "99 updated" in out
    _, out, _ = as_("county", "case", "list", "--state", "proposed", "--output", "json")
    assert len(out.splitlines()) == 5

    # a flood on the fifth village: an office watching alerts gets one, and the village's
    # households lead the county's risk ranking
    flooded = villages[4]
    target = f"127.0.0.1:{server.port}"
    with open_channel(target, api_key=keys["county"]) as channel:
        alerts = ypb_grpc.YearServiceStub(channel).WatchAlerts(
            ypb.WatchAlertsRequest(min_risk=60), timeout=120
        )
        alerts.initial_metadata()  # subscribed
        _, out, _ = as_(
            "county", "shock", "--village", flooded.id, "--kind", "disaster",
            "--severity", "3", "--date", date.today().isoformat(), "--note", "山洪",
        )  # fmt: skip
        assert "households raised to the alert level" in out
        alert = next(alerts)
        alerts.cancel()
    assert alert.entry.village_id == flooded.id and alert.entry.risk >= 60
    _, out, _ = as_("county", "risks", "--limit", "20", "--output", "json")
    top = [json.loads(line) for line in out.splitlines()]
    assert {e["village_id"] for e in top} == {flooded.id}
    assert all(any("disaster" in r for r in e["reasons"]) for e in top)
    cadre_work(lambda kind, m: create(fupin, tmp_path, kind, m), villages[1], county, as_)

    # aid to the county's poorest, then the year's reports into one folder
    _, out, _ = as_(
        "county", "create", "aid-programs", "display_name=医疗救助", "kind=MEDICAL_AID",
        "budget_fen=3000000", "amount_fen=300000", "causes=ILLNESS,DISABILITY",
        "eligible_statuses=IMPOVERISHED,AT_RISK", f"region_code={county}", "--quiet",
    )  # fmt: skip
    as_("county", "aid", "allocate", "--programme", out.strip(), "--region", county, "--commit")
    folder = tmp_path / "reports"
    as_("county", "report", "all", "--by", "village", "--out", str(folder))
    _check_reports(folder, oracle.read(server.store, by_village=True, region=county))


def cadre_work(create, village, county, as_) -> None:
    """A rank-1 cadre stationed in the village and two senior ones nearby contract its poor
    households (the seniors carry their share); visits are logged and the cadres assessed;
    a senior is recalled and a new run contracts its households to the others."""
    cadres = {}
    for name, rank in (("junior", pb.SECTION_MEMBER), ("deputy", pb.DEPUTY_DIVISION),
                       ("chief", pb.DIVISION_CHIEF)):  # fmt: skip
        cadres[name] = create("cadres", factories.cadre(
            display_name=name, rank=rank, location=village.location, home_region_code=county,
        ))  # fmt: skip
    as_("county", "update", "cadres", cadres["junior"], f"current_village_id={village.id}")
    contract = ("cadres", "contract", "--region", village.admin_code, "--commit",
                "--quota", "1=300", "--quota", "4=300", "--quota", "5=300")  # fmt: skip
    _, out, _ = as_("county", *contract)
    assert "load by rank:" in out and "households covered: 100.0%" in out
    _, out, _ = as_("county", *contract, "--output", "json")  # a second run replaces the first
    first = {k["household_id"]: k["cadre_id"] for k in json.loads(out)["contracting"]["contracts"]}
    loads = {x["rank"]: x for x in json.loads(out)["contracting"]["rank_loads"]}
    assert json.loads(out)["state"] == "COMMITTED" and len(first) > 20
    assert loads[5]["load_share"] >= loads[5]["capacity_share"]  # the chief carries its share

    today = date.today()
    visited = sorted(h for h, c in first.items() if c == cadres["chief"])[:3]
    for h in visited:
        as_("county", "cadres", "visit", cadres["chief"], h, "--date", today.isoformat(),
            "--done", "核实收入", "--follow-up", "下月复访")  # fmt: skip
    _, out, _ = as_("county", "cadres", "visits", "--cadre", cadres["chief"], "--output", "json")
    assert sorted(json.loads(line)["household_id"] for line in out.splitlines()) == visited
    _, out, _ = as_("county", "cadres", "visits", "--cadre", cadres["chief"])
    rows = [line for line in out.splitlines()[1:] if line.strip()]
    assert len(rows) == 3 and all("chief" in row for row in rows)  # the cadre by name
    period = ("--from", (today - timedelta(days=30)).isoformat(), "--to", today.isoformat())
    _, out, _ = as_("county", "cadres", "assess", *period, "--unit", "county", "--output", "csv")
    rows = {r["cadre_id"]: r for r in csv.DictReader(io.StringIO(out))}
    for name, cadre_id in cadres.items():
        mine = [h for h, c in first.items() if c == cadre_id]
        assert int(rows[cadre_id]["households"]) == len(mine), name
        expected = len(visited) if name == "chief" else 0
        assert int(rows[cadre_id]["visits"]) == expected
        assert int(rows[cadre_id]["overdue_households"]) == len(mine) - expected
    _, out, _ = as_("county", "cadres", "assess", *period, "--unit", "county")
    assert "INCOME CHANGE YUAN" in out and county in out  # the table: one unit, the county
    _, out, _ = as_("county", "--lang", "zh-CN", "cadres", "assess", *period, "--unit", "county")
    assert "收入变化（元）" in out  # headings translated when shown, not at import

    released = sorted(h for h, c in first.items() if c == cadres["chief"])
    _, out, _ = as_("county", "cadres", "recall", cadres["chief"], "--reason", "长期不在岗")
    assert f"{len(released)} households released" in out
    _, out, _ = as_("county", "cadres", "recalls", "--cadre", cadres["chief"])
    recall = out.splitlines()[1]
    assert "chief" in recall and "长期不在岗" in recall  # the cadre by name
    _, out, _ = as_("county", *contract, "--output", "json")
    again = {k["household_id"]: k["cadre_id"] for k in json.loads(out)["contracting"]["contracts"]}
    assert set(again) == set(first) and cadres["chief"] not in again.values()
    assert all(again[h] in (cadres["junior"], cadres["deputy"]) for h in released)


def _check_reports(folder, rows):
    """This year's rows of each report's CSV against the same figures computed over the rows."""
    year = datetime.now(UTC).year

    def table(name):
        with (folder / f"{name}.csv").open(encoding="utf-8") as f:
            return [r for r in csv.DictReader(f) if r.get("year", str(year)) == str(year)]

    def area(r):
        return r["area.area_code"], r["area.area_name"]

    statuses = ("impoverished", "at_risk", "lifted_out", "returned_to_poverty")
    assert {
        area(r): {s: int(r[name]) for s, name in enumerate(statuses, 1) if int(r[name])}
        for r in table("status")
    } == oracle.status_at_year_end(rows, year)
    assert sum(int(r["households"]) for r in table("status")) == 1005
    exits = {area(r): (int(r["exits"]), int(r["returns"]), int(r["ever_lifted_out"]))
             for r in table("exits")}  # fmt: skip
    assert exits == oracle.exits(rows, year) and sum(e[0] for e in exits.values()) > 0
    incomes = {area(r): (int(r["poor_households"]), int(r["with_record"]), int(r["members"]),
                         int(r["total_fen"])) for r in table("income")}  # fmt: skip
    assert incomes == oracle.incomes(rows, year)
    programmes, causes = oracle.aid(rows, year)
    assert {r["programme_id"]: (int(r["amount_fen"]), int(r["grants"]), int(r["households"]))
            for r in table("aid-programmes")} == programmes  # fmt: skip
    assert sum(p[0] for p in programmes.values()) == 3_000_000
    by_cause = {pb.PovertyCause.Value(r["cause"]): [int(r["amount_fen"]), int(r["grants"]),
                int(r["households"])] for r in table("aid-causes")}  # fmt: skip
    assert by_cause == causes
    cadres = ("poor_households", "contracted", "cadres", "stationed")
    coverage = {area(r): tuple(int(r[name]) for name in cadres) for r in table("cadres")}
    assert coverage == oracle.coverage(rows)
    visits = {area(r): tuple(int(r[name]) for name in ("visits", "visited", "not_visited",
              "overdue")) for r in table("cadres") if int(r["poor_households"])}  # fmt: skip
    assert visits == oracle.visits(rows, year - 4, year, datetime.now(UTC).date())
    assert sum(v[0] for v in visits.values()) == sum(v[1] for v in visits.values()) == 3
    assert (folder / "reports.xlsx").stat().st_size and (folder / "income.png").stat().st_size
