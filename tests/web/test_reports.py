"""An office's reports in a real browser, in both languages: each report's table equal, cell for
cell, to the CLI's table of the same ReportService answer (the office's own session asks), and
its chart with one bar per row, each bar's value the row's charted figure."""

from __future__ import annotations

import pytest

from clients import i18n
from clients.auth import open_channel
from clients.reports import tables
from fupin.registry.v1 import report_service_pb2 as rpb
from fupin.registry.v1 import report_service_pb2_grpc as rpb_grpc
from tests.web.conftest import session_token, sign_in
from tests.web.test_console import no_horizontal_scroll, shot
from web.views_reports import CHARTED, MAX_BARS

pytestmark = pytest.mark.xdist_group(name="web")


def expected(site, report: str) -> list[tables.Table]:
    token = session_token(site, "office")
    with open_channel(f"127.0.0.1:{site.grpc_port}", api_key=token) as channel:
        stub = rpb_grpc.ReportServiceStub(channel)
        return tables.fetch(stub, report, rpb.ReportRequest(area=rpb.BY_VILLAGE), 30)


def test_office_reads_its_reports_with_charts(new_page, site):
    i18n.use("en")  # the CLI's tables in English: what the English page must show
    page = new_page()
    sign_in(page, site, "office")
    page.wait_for_url("**/office/households")
    page.click("a[href='/office/reports']")
    page.wait_for_url("**/office/reports")
    seen = 0
    for report in tables.REPORTS:
        page.goto(f"{site.url}/office/reports?report={report}&area=village")
        assert no_horizontal_scroll(page), report
        for table in expected(site, report):
            section = page.locator(f"#report-{table.name}")
            assert section.locator("h2").inner_text() == table.title
            assert section.locator("thead th").all_inner_texts() == tables.headings(table)
            rows = section.locator("tbody tr:not(:has(.muted))")
            assert rows.count() == len(table.rows), table.name
            want = tables.text_rows(table)
            for i in range(rows.count()):
                assert rows.nth(i).locator("td").all_inner_texts() == want[i], (table.name, i)
            charted = [c.path for c in table.columns].index(CHARTED[table.name])
            bars = section.locator("svg.chart g")
            assert bars.count() == min(len(table.rows), MAX_BARS)
            for i in range(bars.count()):
                raw = table.rows[i][charted] or 0
                scale = 100 if table.columns[charted].kind == "fen" else 1
                drawn = float(bars.nth(i).get_attribute("data-value"))
                assert drawn * scale == pytest.approx(max(raw, 0)), (table.name, i)
            seen += len(table.rows)
        if report == "status":
            shot(page, "report-status-en")
    assert seen > 0  # the scenario's households are filed: a report has rows

    zh = new_page(360, 740, "zh-CN")
    sign_in(zh, site, "office")
    zh.wait_for_url("**/office/households")
    zh.goto(f"{site.url}/office/reports?report=status&area=village")
    assert zh.locator("h1").inner_text() == "统计报表"
    words = i18n.gettext.translation(i18n.DOMAIN, i18n.LOCALE_DIR, languages=["zh_CN"])
    table = expected(site, "status")[0]
    assert zh.locator("#report-status h2").inner_text() == words.gettext(table.title)
    headings = [words.gettext(c.heading) for c in table.columns]
    assert zh.locator("#report-status thead th").all_inner_texts() == headings
    assert headings != tables.headings(table)  # Chinese, not the English headings
    assert no_horizontal_scroll(zh)
    zh.locator("#report-status svg.chart").scroll_into_view_if_needed()
    shot(zh, "report-status-phone-zh")
    zh.goto(f"{site.url}/office/reports?report=status&from=1999")  # the server's refusal
    said = zh.inner_text("main").split("服务器拒绝了请求", 1)[1]
    assert "from_year" in said and "must" not in said, said
