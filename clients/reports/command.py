"""`fupin report`: the reports an office files (ReportService), as a table, CSV, JSON or XLSX,
with a chart.

    fupin report status|exits|income|aid|cadres [--region CODE] [--from YEAR] [--to YEAR]
                 [--by county|village] [--output table|csv|json] [--xlsx FILE] [--chart FILE]
    fupin report all --out DIR [--region CODE] [--from YEAR] [--to YEAR] [--by county|village]

`all` writes every report into DIR: reports.xlsx (a sheet per table), a CSV per table and a
PNG chart per report. Charts and headings follow --lang (en or zh-CN).
"""

from __future__ import annotations

import argparse
import csv
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from clients import auth
from clients.cli.output import emit_json, print_table, say, show
from clients.errors import UsageError
from clients.i18n import _
from clients.reports import tables
from clients.reports.tables import REPORTS, Table
from fupin.registry.v1 import report_service_pb2 as rpb
from fupin.registry.v1 import report_service_pb2_grpc as rpb_grpc

AREAS = {"county": rpb.BY_COUNTY, "village": rpb.BY_VILLAGE}


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    report = commands.add_parser(
        "report", parents=[client], help=_("the reports an office files (table, CSV, XLSX, chart)")
    )
    report.add_argument("report", choices=[*REPORTS, "all"])
    report.add_argument("--region", default="", help=_("administrative code prefix"))
    report.add_argument("--from", dest="from_year", type=int, default=0, metavar="YEAR")
    report.add_argument("--to", dest="to_year", type=int, default=0, metavar="YEAR")
    report.add_argument("--by", choices=list(AREAS), default="county")
    report.add_argument("--xlsx", type=Path, help=_("also write the report as an XLSX file"))
    report.add_argument("--chart", type=Path, help=_("also draw the report's chart (PNG)"))
    report.add_argument("--out", type=Path, help=_("the folder `report all` writes into"))
    report.set_defaults(run=run_report)


def report_stub(args: argparse.Namespace) -> AbstractContextManager[Any]:
    return auth.client_stub(args.target, rpb_grpc.ReportServiceStub)


def run_report(args: argparse.Namespace) -> int:
    """Charts (matplotlib) and workbooks (openpyxl) are imported here, not with the CLI: they
    took 2.4 of the 3.5 s every `fupin` command spent importing (python -X importtime)."""
    request = rpb.ReportRequest(
        region_code=args.region,
        from_year=args.from_year,
        to_year=args.to_year,
        area=AREAS[args.by],
    )
    if args.report == "all":
        if args.out is None:
            raise UsageError(_("report all needs --out DIR"))
        return _all(args, request)
    with report_stub(args) as stub:
        found = tables.fetch(stub, args.report, request, args.timeout)
    _print(found, args.output)
    if args.xlsx:
        from clients.reports import xlsx

        say(_("wrote {path}").format(path=xlsx.write(found, args.xlsx)))
    if args.chart:
        from clients.reports import charts

        args.chart.parent.mkdir(parents=True, exist_ok=True)
        say(_("wrote {path}").format(path=charts.draw(args.report, found, args.chart)))
    return 0


def _all(args: argparse.Namespace, request: rpb.ReportRequest) -> int:
    from clients.reports import charts, xlsx

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    every: list[Table] = []
    with report_stub(args) as stub:
        for report in REPORTS:
            found = tables.fetch(stub, report, request, args.timeout)
            every += found
            for table in found:
                with (out / f"{table.name}.csv").open("w", newline="", encoding="utf-8") as f:
                    csv.writer(f, lineterminator="\n").writerows(tables.csv_rows(table))
            charts.draw(report, found, out / f"{report}.png")
    xlsx.write(every, out / "reports.xlsx")
    for table in every:
        show(f"{table.name}\t{len(table.rows)}")
    say(_("wrote {n} tables and {m} charts into {path}").format(
        n=len(every), m=len(REPORTS), path=out
    ))  # fmt: skip
    return 0


def _print(found: list[Table], output: str) -> None:
    for i, table in enumerate(found):
        if output == "csv":
            csv.writer(sys.stdout, lineterminator="\n").writerows(tables.csv_rows(table))
        elif output == "json":
            header = [c.path for c in table.columns]
            for row in tables.csv_rows(table)[1:]:
                emit_json({"table": table.name, **dict(zip(header, row, strict=True))})
        else:
            if i:
                show("")
            show(_(table.title))
            if table.rows:
                print_table(tables.headings(table), tables.text_rows(table))
            else:
                say(_("none"))
