"""An office's reports (ReportService, as `fupin report` prints them): households by status,
exits and returns, the poor households' income, aid by programme and by cause, cadre coverage
and visits; each as a table and a bar chart drawn by the console (web/charts.py), in the page's
language.

The tables are the CLI's (clients/reports/tables.py: the same columns, titles and values); the
words come from the CLI's catalog in the page's language, looked up per request (the CLI's own
`_` holds one language for the whole process)."""

from __future__ import annotations

import functools
import gettext
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from clients.i18n import DOMAIN, LOCALE_DIR
from clients.reports import tables
from fupin.registry.v1 import report_service_pb2 as rpb
from web import charts
from web.pages import Console, Ctx, page

ROLES = ("office", "admin", "auditor")
MAX_BARS = 40  # a chart of every village would be taller than any page: the table has them all
# The column each report's chart draws.
CHARTED = {
    "status": "impoverished",
    "exits": "exits",
    "income": "per_capita_fen",
    "aid-programmes": "amount_fen",
    "aid-causes": "amount_fen",
    "cadres": "coverage",
}
LABELS = ("text", "cause", "aid-kind", "status")  # the kinds of column that name a row


def routes(console: Console) -> list[Route]:
    def reports(ctx: Ctx) -> Response:
        report = ctx.arg("report") or "status"
        if report not in tables.REPORTS:
            return ctx.render("message.html", status_code=404, message=ctx.t("not_found"))
        request = rpb.ReportRequest(
            region_code=ctx.arg("region"),
            from_year=_year(ctx.arg("from")),
            to_year=_year(ctx.arg("to")),
            area=rpb.BY_VILLAGE if ctx.arg("area") == "village" else rpb.BY_COUNTY,
        )
        got = tables.fetch(_Stub(ctx), report, request, ctx.link.timeout_s)
        words = catalog(ctx.lang)
        shown = [_shown(table, words) for table in got]
        return ctx.render(
            "reports.html",
            report=report,
            reports=tables.REPORTS,
            shown=shown,
            values={k: ctx.arg(k) for k in ("region", "from", "to", "area")},
            max_bars=MAX_BARS,
        )

    return [Route("/office/reports", page(console, reports, roles=ROLES))]


class _Stub:
    """ReportService as tables.fetch calls it, through the user's link (token, language)."""

    def __init__(self, ctx: Ctx) -> None:
        self._link = ctx.link

    def __getattr__(self, method: str) -> Any:
        return lambda request, timeout: self._link.call("reports", method, request, timeout)


@functools.cache
def catalog(lang: str) -> gettext.NullTranslations:
    language = "zh_CN" if lang == "zh-CN" else "en"
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def _year(text: str) -> int:
    """A year as typed; anything else goes to the server as -1, which names the field."""
    if not text:
        return 0
    return int(text) if text.isdigit() and len(text) <= 4 else -1


def value_text(value: Any, kind: str, words: gettext.NullTranslations) -> str:
    """A value as the CLI's tables show it, in the catalog's language."""
    if value is None:
        return ""
    if kind == "fen" and value == tables.MASKED:
        return words.gettext("(masked)")
    if kind in tables.ENUMS:
        known = tables.ENUMS[kind].values_by_number.get(value)
        if known is None:
            return str(value)
        return words.pgettext(tables.ENUMS[kind].full_name, known.name)
    return tables.shown(value, kind)


def _shown(table: tables.Table, words: gettext.NullTranslations) -> dict[str, Any]:
    columns = table.columns
    rows = [
        [value_text(v, c.kind, words) for v, c in zip(row, columns, strict=True)]
        for row in table.rows
    ]
    charted = [c.path for c in columns].index(CHARTED[table.name])
    kind = columns[charted].kind
    bars: list[charts.Bar] = []
    for raw, text in zip(table.rows, rows, strict=True):
        value = raw[charted]
        amount = 0.0 if value is None or (kind == "fen" and value == tables.MASKED) else value
        if kind == "fen":
            amount = amount / 100
        bars.append(charts.Bar(str(len(bars)), _label(columns, text), amount, text[charted]))
    title = words.gettext(table.title)
    heading = words.gettext(columns[charted].heading)
    return {
        "name": table.name,
        "title": title,
        "headings": [words.gettext(c.heading) for c in columns],
        "paths": [c.path for c in columns],
        "kinds": [c.kind for c in columns],
        "rows": rows,
        "charted": heading,
        "chart": charts.bars(bars[:MAX_BARS], f"{title}: {heading}"),
    }


def _label(columns: tuple[tables.Column, ...], text: list[str]) -> str:
    """What names a row: its year, area (by name when it has one), programme or cause."""
    named = {c.path: t for c, t in zip(columns, text, strict=True)}
    parts = [
        t
        for c, t in zip(columns, text, strict=True)
        if c.kind in LABELS
        and t
        and c.path != "programme_id"
        and not (c.path == "area.area_code" and named.get("area.area_name"))
    ]
    return " ".join(parts) or "—"
