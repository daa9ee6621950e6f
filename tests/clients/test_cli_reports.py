"""`fupin report …` in-process against a real server, on the seeded history of
tests/registry/reports/test_reports.py: CSV, XLSX and charts carry what the RPC answered."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest

from fupin.registry.v1 import report_service_pb2 as rpb
from fupin.registry.v1 import report_service_pb2_grpc as rpb_grpc
from tests.registry.reports.test_reports import seeded  # noqa: F401  (the fixture)

YEARS = ("--from", "2021", "--to", "2026")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def answer(channel):
    def call(method: str, **kw):
        request = rpb.ReportRequest(from_year=2021, to_year=2026, **kw)
        return getattr(rpb_grpc.ReportServiceStub(channel), method)(request)

    return call


def test_csv_and_xlsx_hold_the_rpcs_figures(fupin, seeded, answer, tmp_path):  # noqa: F811
    """Income by village: CSV holds the raw fen, the XLSX sheet yuan; both row by row."""
    book = tmp_path / "income.xlsx"
    code, out, err = fupin("report", "income", *YEARS, "--by", "village", "--output", "csv",
                           "--xlsx", str(book))  # fmt: skip
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    got = answer("IncomeReport", area=rpb.BY_VILLAGE).rows
    assert [(int(r["year"]), r["area.area_code"], int(r["total_fen"])) for r in rows] == [
        (g.year, g.area.area_code, g.total_fen) for g in got
    ]
    assert [r["per_capita_growth"] for r in rows] == [
        str(g.per_capita_growth) if g.HasField("per_capita_growth") else "" for g in got
    ]
    sheet = openpyxl.load_workbook(book)["income"]
    values = list(sheet.iter_rows(min_row=3, values_only=True))
    assert [(v[0], v[1], v[9]) for v in values] == [
        (g.year, g.area.area_code, pytest.approx(g.total_fen / 100)) for g in got
    ]
    assert sheet["A1"].value == "Income of poor households"


def test_every_report_into_a_folder(fupin, seeded, answer, tmp_path):  # noqa: F811
    """`report all`: one workbook with a sheet per table, a CSV per table, a chart per report."""
    out = tmp_path / "reports"
    code, printed, err = fupin("report", "all", *YEARS, "--out", str(out))
    assert code == 0, err
    tables = ["status", "exits", "income", "aid-programmes", "aid-causes", "cadres"]
    book = openpyxl.load_workbook(out / "reports.xlsx")
    assert book.sheetnames == tables
    counts = dict(line.split("\t") for line in printed.splitlines())
    assert counts["status"] == str(len(answer("StatusReport").rows))
    assert counts["aid-causes"] == str(len(answer("AidReport").causes))
    for name in tables:
        with (out / f"{name}.csv").open(encoding="utf-8") as f:
            assert len(list(csv.reader(f))) == int(counts[name]) + 1
        assert book[name].max_row == int(counts[name]) + 2
    for report in ("status", "exits", "income", "aid", "cadres"):
        assert (out / f"{report}.png").read_bytes().startswith(PNG)
    code, _, err = fupin("report", "all")
    assert code == 2 and "--out" in err


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_table_and_a_chart_in_each_language(fupin, seeded, tmp_path, lang):  # noqa: F811
    chart = tmp_path / f"exits-{lang}.png"
    code, out, err = fupin("--lang", lang, "report", "exits", *YEARS, "--chart", str(chart))
    assert code == 0, err
    title, heading = (
        ("脱贫退出、返贫与返贫率", "返贫率") if lang == "zh-CN"
        else ("Exits, returns and the return rate", "return rate")
    )  # fmt: skip
    assert out.splitlines()[0] == title and heading in out.splitlines()[1]
    assert "%" in out.splitlines()[2]
    assert chart.read_bytes().startswith(PNG)


def test_json_lines_name_their_table(fupin, seeded, answer):  # noqa: F811
    code, out, err = fupin("report", "aid", *YEARS, "--output", "json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    got = answer("AidReport")
    assert sum(1 for x in lines if x["table"] == "aid-causes") == len(got.causes)
    assert sum(x["amount_fen"] for x in lines if x["table"] == "aid-programmes") == got.total_fen


def test_cadre_visits_in_csv_xlsx_and_chinese(fupin, seeded, answer, tmp_path):  # noqa: F811
    """`report cadres`: the visit figures of each area in CSV (raw) and XLSX (visits per
    household a number), and the Chinese table's headings."""
    book = tmp_path / "cadres.xlsx"
    code, out, err = fupin("report", "cadres", *YEARS, "--by", "village", "--output", "csv",
                           "--xlsx", str(book))  # fmt: skip
    assert code == 0, err
    names = ("visits", "visited", "not_visited", "overdue")
    rows = list(csv.DictReader(io.StringIO(out)))
    got = answer("CadreReport", area=rpb.BY_VILLAGE).rows
    assert [(r["area.area_code"], *(int(r[n]) for n in names)) for r in rows] == [
        (g.area.area_code, g.visits, g.visited, g.not_visited, g.overdue) for g in got
    ]
    assert sum(g.visits for g in got) > 0
    sheet = openpyxl.load_workbook(book)["cadres"]
    headings = [c.value for c in sheet[2]]
    per = headings.index("visits per contracted household")
    assert [v[per] for v in sheet.iter_rows(min_row=3, values_only=True)] == [
        pytest.approx(g.visits_per_household) for g in got
    ]
    assert sheet.cell(row=3, column=per + 1).number_format == "0.00"
    code, out, err = fupin("--lang", "zh-CN", "report", "cadres", *YEARS)
    assert code == 0, err
    assert out.splitlines()[0] == "干部结对帮扶覆盖与走访情况"
    assert all(w in out.splitlines()[1] for w in ("走访次数", "结对户均走访次数", "逾期"))
