"""`fupin shock`, `fupin risks` and `fupin alerts`: shocks, risk ranking and alerts (YearService).

    fupin shock (--household ID | --village ID | --county CODE) --kind disaster|illness|
                price-collapse|epidemic|job-loss --severity 1-3 --date YYYY-MM-DD [--note TEXT]
    fupin risks [--region CODE] [--limit N] [--min-risk R]
    fupin alerts [--min-risk R]          # runs until Ctrl-C

The risk rule and its weights are the scoring file's [risk] section.
"""

from __future__ import annotations

import argparse
from typing import Any

from clients.cli.cells import when
from clients.cli.output import emit_csv_rows, emit_json, print_table, say, show
from clients.cli.printers import NONE, names_from
from clients.cli.year.cases import year_stub
from clients.cli.year.reasons import reason_text
from clients.client import HOUSEHOLDS, VILLAGES
from clients.i18n import _, enum_name
from fupin.registry.v1 import resources_pb2 as pb
from fupin.registry.v1 import year_service_pb2 as ypb

KINDS = {
    "disaster": ypb.DISASTER,
    "illness": ypb.ILLNESS_SHOCK,
    "price-collapse": ypb.PRICE_COLLAPSE,
    "epidemic": ypb.EPIDEMIC,
    "job-loss": ypb.JOB_LOSS,
}


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    shock = commands.add_parser("shock", parents=[client], help=_("record a shock"))
    target = shock.add_mutually_exclusive_group(required=True)
    target.add_argument("--household", default="")
    target.add_argument("--village", default="")
    target.add_argument("--county", default="")
    shock.add_argument("--kind", required=True, choices=list(KINDS))
    shock.add_argument("--severity", type=int, required=True, help=_("1 (mild) to 3 (severe)"))
    shock.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    shock.add_argument("--note", default="")
    shock.set_defaults(run=run_shock)
    risks = commands.add_parser("risks", parents=[client], help=_("households ranked by risk"))
    risks.add_argument("--region", default="", help=_("administrative code prefix"))
    risks.add_argument("--limit", type=int, default=50)
    risks.add_argument("--min-risk", type=int, default=0)
    risks.set_defaults(run=run_risks)
    alerts = commands.add_parser("alerts", parents=[client], help=_("stream new risk alerts"))
    alerts.add_argument("--min-risk", type=int, default=0)
    alerts.add_argument("--count", type=int, default=0, help=_("stop after N alerts (0: never)"))
    alerts.set_defaults(run=run_alerts)  # no deadline: it streams until Ctrl-C


def run_shock(args: argparse.Namespace) -> int:
    shock = ypb.Shock(
        household_id=args.household,
        village_id=args.village,
        county_code=args.county,
        kind=KINDS[args.kind],
        severity=args.severity,
        date=args.date,
        note=args.note,
    )
    with year_stub(args) as stub:
        stored = stub.RecordShock(ypb.RecordShockRequest(shock=shock), timeout=args.timeout)
    if args.output == "json":
        emit_json(stored)
    else:
        show(_("shock {id}: {n} households raised to the alert level").format(
            id=stored.id, n=stored.alerts
        ))  # fmt: skip
    return 0


def run_risks(args: argparse.Namespace) -> int:
    request = ypb.ListRisksRequest(
        region_code=args.region, limit=args.limit, min_risk=args.min_risk
    )
    with year_stub(args) as stub:
        entries = stub.ListRisks(request, timeout=args.timeout).entries
    if args.output == "json":
        for entry in entries:
            emit_json(entry)
    elif args.output == "csv":
        fields = ["risk", "household_id", "village_id", "status", "score", "reasons"]
        emit_csv_rows(fields, [_row(e) for e in entries])
    elif entries:
        with names_from(args.target, args.timeout) as names:  # one call per kind
            heads = names.of(HOUSEHOLDS, (e.household_id for e in entries))
            villages = names.of(VILLAGES, (e.village_id for e in entries))
        rows = [
            [
                r[0],
                r[1],
                heads[e.household_id] or NONE,
                r[2],
                villages[e.village_id] or NONE,
                *r[3:],
            ]
            for e, r in ((e, _row(e)) for e in entries)
        ]
        headings = [_("RISK"), _("HOUSEHOLD"), _("HEAD"), _("VILLAGE"), _("VILLAGE NAME")]
        print_table([*headings, _("STATUS"), _("SCORE"), _("WHY")], rows)
    else:
        say(_("none"))
    return 0


def run_alerts(args: argparse.Namespace) -> int:
    seen = 0
    with year_stub(args) as stub:
        stream = stub.WatchAlerts(ypb.WatchAlertsRequest(min_risk=args.min_risk))
        stream.initial_metadata()  # the server sends it once subscribed: no alert is missed after
        say(_("watching for alerts (Ctrl-C to stop)"))
        for alert in stream:
            if args.output == "json":
                emit_json(alert)
            else:
                show(_("{time} risk {previous} -> {risk}: {row}").format(
                    time=when(alert.time), previous=alert.previous_risk,
                    risk=alert.entry.risk, row="  ".join(_row(alert.entry)[1:]),
                ))  # fmt: skip
            seen += 1
            if seen == args.count:
                stream.cancel()
                break
    return 0


def _row(entry: ypb.RiskEntry) -> list[str]:
    return [
        str(entry.risk),
        entry.household_id,
        entry.village_id,
        enum_name(pb.HouseholdStatus.DESCRIPTOR, entry.status),
        str(entry.score),
        "; ".join(reason_text(r) for r in entry.reasons),
    ]
