"""Each run kind by its own printer, names beside ids, and "—" for a gap without a bound."""

from __future__ import annotations

import csv
import datetime
import io
import json

import pytest

from clients import i18n
from clients.cli import printers
from clients.cli.cells import reader
from clients.client import (
    AID_PROGRAMS,
    BUYERS,
    CADRES,
    HOUSEHOLDS,
    LISTINGS,
    ORDERS,
    PRODUCERS,
    VILLAGES,
    RegistryClient,
)
from clients.names import Names
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import registry_service_pb2 as rpb
from fupin.registry.v1 import resources_pb2 as pb
from tests import factories
from tests.clients.test_roles import new_key


def calls(server, method: str) -> float:
    """How many times the server answered `method` (RegistryService) so far."""
    labels = {"service": "fupin.registry.v1.RegistryService", "method": method, "code": "OK"}
    return server.metrics.registry.get_sample_value("fupin_rpc_handled_total", labels) or 0.0


@pytest.fixture
def admin(server):
    with RegistryClient(f"127.0.0.1:{server.port}", timeout_s=10) as client:
        yield client


def villages_with_households(admin, households: int) -> dict[str, str]:
    """Three named villages and `households` households spread over them: {household id:
    the name of its village}."""
    villages = [
        admin.create(VILLAGES, factories.village(display_name=f"岭下{n}村")) for n in range(3)
    ]
    out = {}
    for n in range(households):
        village = villages[n % 3]
        out[admin.create(HOUSEHOLDS, factories.household(village.id)).id] = village.display_name
    return out


@pytest.mark.parametrize("households", [4, 40])
def test_list_shows_village_names_in_one_call_per_kind(fupin, admin, server, households):
    """`list households` shows each row's village name; 4 rows or 40, one BatchGetResources
    call reads the names, and no Get per row."""
    village_of = villages_with_households(admin, households)
    before = (calls(server, "BatchGetResources"), calls(server, "GetVillage"))
    code, out, err = fupin("list", "households")
    assert code == 0, err
    after = (calls(server, "BatchGetResources"), calls(server, "GetVillage"))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 0)
    assert "VILLAGE NAME" in out.splitlines()[0]
    for household_id, village in village_of.items():
        line = next(line for line in out.splitlines() if line.startswith(household_id))
        assert village in line
    code, out, err = fupin("list", "households", "--output", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["id"]: r["village_id#name"] for r in rows} == village_of


def test_names_read_only_what_the_key_may_read(fupin, admin, server):
    """A platform's key reads village names (every role may) but not households' (it may not
    list them): those stay unnamed; an admin's reads both, and an unknown id stays unnamed."""
    village = admin.create(VILLAGES, factories.village(display_name="霞葛村"))
    household = admin.create(HOUSEHOLDS, factories.household(village.id, head_name="林阿婆"))
    admin.create(PRODUCERS, factories.producer_for(household.id))
    platform = new_key(fupin, "platform", admin.create(BUYERS, factories.buyer()).id)
    names = Names(RegistryClient(f"127.0.0.1:{server.port}", api_key=platform))
    assert names.of(VILLAGES, [village.id]) == {village.id: "霞葛村"}
    assert names.of(HOUSEHOLDS, [household.id]) == {household.id: ""}
    admin_names = Names(admin)
    assert admin_names.of(HOUSEHOLDS, [household.id, "hh-nobody"]) == {
        household.id: "林阿婆",
        "hh-nobody": "",
    }


def test_produce_run_shows_producer_and_buyer_names(fupin, admin):
    """`runs get` of a produce run: one line per allocation with the producer's and the
    buyer's names beside their ids, the pickup days; CSV has a line per allocation."""
    village = admin.create(VILLAGES, factories.village())
    household = admin.create(HOUSEHOLDS, factories.household(village.id))
    producer = admin.create(
        PRODUCERS, factories.producer_for(household.id, display_name="林家果园")
    )
    admin.create(LISTINGS, factories.listing(producer.id, quantity_kg=2000))
    buyer = admin.create(BUYERS, factories.buyer(display_name="普宁青梅厂"))
    order = admin.create(ORDERS, factories.order(buyer.id, max_quantity_kg=1500))
    code, out, err = fupin("match", "produce", "--product", "green_plum", "--today", "2020-05-10")
    assert code == 0, err
    run_id = out.split()[1].rstrip(":")
    code, out, err = fupin("runs", "get", run_id)
    assert code == 0, err
    line = next(line for line in out.splitlines() if order.id in line)
    assert f"{producer.id} 林家果园" in line and f"{buyer.id} 普宁青梅厂" in line
    assert "1,500" in line and "2020-05-10 –" in line
    code, out, err = fupin("runs", "get", run_id, "--output", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["producer_name"], r["buyer_name"], r["kg"]) for r in rows] == [
        ("林家果园", "普宁青梅厂", "1500")
    ]


@pytest.fixture
def aid_run(fupin, admin):
    """Two named households granted medical aid; (run id, {household id: head name})."""
    village = admin.create(VILLAGES, factories.village())
    heads = {}
    for name in ("张秀英", "李建国"):
        household = admin.create(
            HOUSEHOLDS, factories.household(village.id, head_name=name, causes=[pb.ILLNESS])
        )
        heads[household.id] = name
    programme = admin.create(
        AID_PROGRAMS,
        factories.aid_program(
            display_name="大病救助", budget_fen=400_000, amount_fen=200_000, causes=[pb.ILLNESS]
        ),
    )
    code, out, err = fupin("aid", "allocate", "--programme", programme.id)
    assert code == 0, err
    return out.split()[1].rstrip(":"), heads


def test_aid_run_shows_grants_to_named_households(fupin, aid_run):
    """`runs get` of an aid run lists each grant: household and head, programme name, yuan;
    the objective is a need value, never yuan."""
    run_id, heads = aid_run
    code, out, err = fupin("runs", "get", run_id)
    assert code == 0, err
    headline = out.splitlines()[0]
    assert "need value" in headline and "yuan, gap" not in headline
    assert "2 grants, 4,000.00 yuan to 2 households" in headline
    for household_id, head in heads.items():
        line = next(line for line in out.splitlines() if line.startswith(household_id))
        assert head in line and "大病救助" in line and "2,000.00" in line


def test_aid_run_masks_head_names_for_an_auditor(fupin, aid_run, as_key):
    """An auditor sees the grants with the heads' names masked."""
    run_id, heads = aid_run
    auditor = new_key(fupin, "auditor", "")
    code, out, err = as_key(auditor, "runs", "get", run_id, "--output", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2 and {r["head_name"] for r in rows} == {"(masked)"}
    assert not any(head in out for head in heads.values())


@pytest.fixture
def as_key(fupin, monkeypatch, admin_key):
    def run(key: str, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setenv("FUPIN_API_KEY", key)
        try:
            return fupin(*argv)
        finally:
            monkeypatch.setenv("FUPIN_API_KEY", admin_key)

    return run


def test_cadre_runs_show_cadre_village_and_household_names(fupin, admin):
    """Stationing: the village's name in its heading, the cadre's name in the posting's row;
    contracting: the household's head and the cadre's name on the contract's row."""
    village = admin.create(VILLAGES, factories.village(display_name="岭下村", needs=[]))
    household = admin.create(HOUSEHOLDS, factories.household(village.id, head_name="陈阿明"))
    cadre = admin.create(
        CADRES,
        factories.cadre(display_name="王书记", location=pb.LatLng(latitude=23.70, longitude=117.2)),
    )
    code, out, err = fupin("cadres", "assign", "--team-min", "1", "--team-max", "1", "--commit")
    assert code == 0, err
    assert f"village {village.id} 岭下村" in out
    line = next(line for line in out.splitlines() if line.startswith(cadre.id))
    assert "王书记" in line and "first secretary" in line
    code, out, err = fupin("cadres", "contract")
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith(household.id))
    assert "陈阿明" in line and f"{cadre.id}" in line and "王书记" in line and "own village" in line
    code, out, err = fupin("cadres", "contract", "--output", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["head_name"], r["cadre_name"]) for r in rows] == [("陈阿明", "王书记")]


def test_a_gap_without_a_bound_is_a_dash(capsys):
    """A contracting run stopped at 1 s with bound 0 once printed a gap of 190,779,000,000,000
    %; now "—". A real gap prints in per cent, an optimal run 0.00%."""
    absurd = mpb.MatchRun(
        id="run-1", kind=mpb.CADRE_CONTRACTING, state=mpb.PROPOSED, status=mpb.FEASIBLE,
        objective=1_907_790, best_bound=0.0, gap=1.9077900e12,
    )  # fmt: skip
    assert printers.gap_text(absurd) == "—"
    printers.print_run(absurd, Names(None), "table")
    assert "gap —;" in capsys.readouterr().out
    assert printers.gap_text(mpb.MatchRun(status=mpb.FEASIBLE, best_bound=1e12, gap=5e6)) == "—"
    assert printers.gap_text(mpb.MatchRun(status=mpb.FEASIBLE, best_bound=float("nan"))) == "—"
    fair = mpb.MatchRun(status=mpb.FEASIBLE, objective=985, best_bound=1000.0, gap=0.015)
    assert printers.gap_text(fair) == "1.50%"
    assert printers.gap_text(mpb.MatchRun(status=mpb.OPTIMAL)) == "0.00%"


def test_regional_quota_left_out_says_so(fupin, admin):
    """`aid allocate --quota`: half the budget kept for township 350624102, whose household is
    the least needy of three. The second-neediest (elsewhere) is left out with REGIONAL_QUOTA,
    while the quota's household has a grant."""
    here = admin.create(VILLAGES, factories.village(admin_code="350624102001"))
    there = admin.create(VILLAGES, factories.village(admin_code="350624101001"))
    worse = factories.indicators(housing_safety=10, food_security=10, health=10)
    bad = factories.indicators(housing_safety=30, food_security=30, health=30)
    poorest = admin.create(HOUSEHOLDS, factories.household(there.id, indicators=worse))
    second = admin.create(HOUSEHOLDS, factories.household(there.id, indicators=bad))
    quota_household = admin.create(HOUSEHOLDS, factories.household(here.id))
    scores = [h.score for h in (poorest, second, quota_household)]
    assert scores == sorted(scores) and len(set(scores)) == 3  # need falls in this order
    programme = admin.create(
        AID_PROGRAMS, factories.aid_program(budget_fen=400_000, amount_fen=200_000)
    )
    code, out, err = fupin(
        "aid", "allocate", "--programme", programme.id, "--quota",
        f"{programme.id}:350624102=500", "--output", "json",
    )  # fmt: skip
    assert code == 0, err
    run = json.loads(out)
    assert {g["household_id"] for g in run["aid"]["grants"]} == {poorest.id, quota_household.id}
    assert [(x["household_id"], x["reason"]) for x in run["aid"]["left_out"]] == [
        (second.id, "REGIONAL_QUOTA")
    ]
    code, out, err = fupin("runs", "get", run["id"])
    assert "left out: 1 eligible household-programme pairs, REGIONAL_QUOTA" in out


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_table_cells_read_each_kind_of_field(lang):
    """The readers made once per column (a 100,000-row table) give each row its own text:
    enum names in the language, yes/no, `;`-joined lists, counts, floats, local times."""
    i18n.use(lang)
    try:
        rows = [
            pb.Household(id="hh-1", members=3, status=pb.AT_RISK, causes=[pb.DISABILITY]),
            pb.Household(id="hh-2", causes=[pb.LACK_OF_LAND, pb.LACK_OF_WATER]),
        ]
        read = {path: reader(pb.Household.DESCRIPTOR, path) for path in ("members", "status")}
        read["causes"] = reader(pb.Household.DESCRIPTOR, "causes")
        status, cause = pb.HouseholdStatus.DESCRIPTOR, pb.PovertyCause.DESCRIPTOR
        assert [read["members"](r) for r in rows] == ["3", "0"]
        assert read["status"](rows[0]) == i18n.enum_name(status, pb.AT_RISK)
        assert read["status"](rows[1]) == i18n.enum_name(status, 0)
        assert read["causes"](rows[1]) == ";".join(
            i18n.enum_name(cause, c) for c in (pb.LACK_OF_LAND, pb.LACK_OF_WATER)
        )
        if lang == "zh-CN":
            assert read["status"](rows[0]) != "AT_RISK"  # translated, not the proto name
        cadre = reader(pb.Cadre.DESCRIPTOR, "available")
        assert [cadre(pb.Cadre(available=a)) for a in (True, False)] == [
            i18n._("yes"),
            i18n._("no"),
        ]
        gap = reader(mpb.MatchRun.DESCRIPTOR, "gap")
        assert gap(mpb.MatchRun(gap=0.125)) == "0.125"
        stamp = mpb.MatchRun()
        stamp.create_time.FromSeconds(86_400 * 365)
        created = reader(mpb.MatchRun.DESCRIPTOR, "create_time")
        local = stamp.create_time.ToDatetime(tzinfo=datetime.UTC).astimezone()
        assert created(stamp) == local.strftime("%Y-%m-%d %H:%M")
        assert created(mpb.MatchRun()) == ""
        nested = reader(rpb.WatchlistEntry.DESCRIPTOR, "household.head_name")
        assert nested(rpb.WatchlistEntry(household=pb.Household(head_name="王五"))) == "王五"
    finally:
        i18n.use("en")


def test_csv_columns_read_directly_match_the_json_form(capsys):
    """CSV cells read field by field are what MessageToDict gives for the same paths: enum
    names (an unknown number as its number), integers, strings, `;`-joined repeated enums."""
    from google.protobuf import json_format

    from clients.cli.output import COLUMNS, emit_csv

    items = [
        pb.Household(
            id="hh-1",
            card_number="5201",
            head_name="王五",
            village_id="vil-1",
            members=3,
            score=70,
            status=pb.AT_RISK,
            causes=[pb.DISABILITY, pb.LACK_OF_LAND],
        ),
        pb.Household(id="hh-2", status=99, causes=[]),  # a number this client has no name for
        pb.Household(),
    ]
    assert emit_csv("households", items) == 3
    lines = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    paths = [path for _heading, path in COLUMNS["households"]]
    assert lines[0] == paths
    for item, line in zip(items, lines[1:], strict=True):
        fields = json_format.MessageToDict(
            item, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        expected = [
            ";".join(str(v) for v in fields[p]) if isinstance(fields[p], list) else str(fields[p])
            for p in paths
        ]
        assert line == expected
    assert lines[2][paths.index("status")] == "99"
    assert lines[1][paths.index("causes")] == "DISABILITY;LACK_OF_LAND"


def test_a_table_aligns_cjk_cells_by_the_columns_they_fill(capsys):
    """Columns two spaces apart, CJK characters two terminal columns wide, no trailing
    spaces; the same text whether the cells come row by row or column by column."""
    from clients.cli.output import print_columns, print_table

    rows = [["hh-1", "王五", "3", ""], ["hh-22", "Li", "12", "x"], ["h", "欧阳小明", "", ""]]
    lines = [
        "ID     HEAD      N   C",
        "hh-1   王五      3",
        "hh-22  Li        12  x",
        "h      欧阳小明",
    ]
    expected = "".join(line + "\n" for line in lines)
    print_table(["ID", "HEAD", "N", "C"], rows)
    assert capsys.readouterr().out == expected
    print_columns(["ID", "HEAD", "N", "C"], [list(column) for column in zip(*rows, strict=True)])
    assert capsys.readouterr().out == expected
    print_table(["ID", "HEAD"], [])
    assert capsys.readouterr().out == "ID  HEAD\n"


def test_a_listed_table_reads_each_cell_as_its_reader_does(capsys):
    """emit's page-by-page columns hold, row for row, what the per-cell readers read."""
    from clients.cli.output import COLUMNS, emit

    items = [
        pb.Household(id=f"hh-{n}", head_name=f"王{n}", members=n, status=n % 3, causes=[1, n % 5])
        for n in range(2_500)  # three pages, the last a part
    ]
    assert emit("households", items, "table") == len(items)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(items) + 1
    readers = [reader(pb.Household.DESCRIPTOR, path) for _h, path in COLUMNS["households"]]
    for item, line in zip(items, lines[1:], strict=True):
        assert line.split() == [text for read in readers if (text := read(item))]
