"""`fupin statement …`: the users' views of the season from the command line.

    fupin statement producer PRODUCER_ID [--year YYYY] [--part summary|buyers|members]
        a cooperative's (or a grower's) season (every season without --year): kg listed, sold
        to whom at what value, received, rejected by reason, owed, paid, outstanding; what it
        paid each member
    fupin statement buyer BUYER_ID       a platform's owed and paid per shipment, and totals
    fupin statement villages --year YYYY [--region CODE]
        an office's income per village: sales, dividends, aid of its households that year

--output table (default): every part; json: the whole statement as one object (villages: one
object per line); csv: one part of a producer's statement (--part, default summary), a buyer's
shipments, the villages.
"""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any

from clients.cli.output import emit, emit_csv, emit_json, print_table, show
from clients.cli.printers import names_from
from clients.i18n import _, enum_name
from clients.season_client import SeasonClient
from fupin.registry.v1 import season_service_pb2 as spb

PARTS = ("summary", "buyers", "members")
SUMMARY_KG = ("listed_kg", "sold_kg", "received_kg", "rejected_kg")
SUMMARY_FEN = (
    "sold_fen",
    "owed_fen",
    "paid_fen",
    "outstanding_fen",
    "dividends_fen",
    "undistributed_fen",
)


def _labels() -> dict[str, str]:
    return {
        "listed_kg": _("listed kg"),
        "sold_kg": _("sold kg"),
        "received_kg": _("received kg"),
        "rejected_kg": _("rejected kg"),
        "sold_fen": _("sold at the orders' prices (yuan)"),
        "owed_fen": _("owed (yuan)"),
        "paid_fen": _("paid (yuan)"),
        "outstanding_fen": _("outstanding (yuan)"),
        "dividends_fen": _("paid out to members (yuan)"),
        "undistributed_fen": _("not yet paid out (yuan)"),
    }


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    views = commands.add_parser("statement", help="a producer's, buyer's or region's season")
    verbs = views.add_subparsers(dest="statement_verb", required=True, metavar="VIEW")
    producer = verbs.add_parser("producer", parents=[client], help="a cooperative's statement")
    producer.add_argument("producer_id")
    producer.add_argument("--year", type=int, default=0, help="the season (default: all)")
    producer.add_argument("--part", choices=PARTS, default="", help="csv: which part")
    producer.set_defaults(run=run_producer)
    buyer = verbs.add_parser("buyer", parents=[client], help="owed and paid per shipment")
    buyer.add_argument("buyer_id")
    buyer.set_defaults(run=run_buyer)
    villages = verbs.add_parser("villages", parents=[client], help="income per village")
    villages.add_argument("--year", type=int, required=True)
    villages.add_argument("--region", default="", help="administrative code prefix")
    villages.set_defaults(run=run_villages)


def _client(args: argparse.Namespace) -> SeasonClient:
    return SeasonClient(args.target, timeout_s=args.timeout)


def yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def run_producer(args: argparse.Namespace) -> int:
    with _client(args) as season:
        got = season.producer_statement(args.producer_id, year=args.year)
    if args.output == "json":
        emit_json(got)
        return 0
    if args.output == "csv":
        part = args.part or "summary"
        if part == "summary":
            writer = csv.writer(sys.stdout, lineterminator="\n")
            names = ("producer_id", *SUMMARY_KG, *SUMMARY_FEN)
            writer.writerow(names)
            values = [getattr(got, n) for n in names[1:]]
            writer.writerow([got.producer.id, *values])
        else:
            with names_from(args.target, args.timeout) as named:
                items = got.buyers if part == "buyers" else got.members
                emit_csv(f"statement-{part}", items, named)
        return 0
    show(f"{got.producer.id}  {got.producer.display_name}")
    label = _labels()
    rows = [[label[name], f"{getattr(got, name):,}"] for name in SUMMARY_KG]
    rows += [[label[name], yuan(getattr(got, name))] for name in SUMMARY_FEN]
    print_table(None, rows)
    if got.buyers:
        show("")
        emit("statement-buyers", got.buyers, "table")
    for r in got.rejections:
        reason = enum_name(spb.RejectReason.DESCRIPTOR, r.reason)
        show(_("rejected for {reason}: {kg} kg").format(reason=reason, kg=f"{r.kg:,}"))
    if got.members:
        show("")
        with names_from(args.target, args.timeout) as named:
            emit("statement-members", got.members, "table", named)
    return 0


def run_buyer(args: argparse.Namespace) -> int:
    with _client(args) as season:
        got = season.buyer_statement(args.buyer_id)
    if args.output == "json":
        emit_json(got)
        return 0
    with names_from(args.target, args.timeout) as names:
        if args.output == "csv":
            emit_csv("statement-dues", got.shipment_dues, names)
            return 0
        show(f"{got.buyer_id}  {got.display_name}")
        emit("statement-dues", got.shipment_dues, "table", names)
    show(
        _("{n} shipments, {kg} kg: owed {owed} yuan, paid {paid}, outstanding {left}").format(
            n=got.shipments,
            kg=f"{got.kg:,}",
            owed=yuan(got.owed_fen),
            paid=yuan(got.paid_fen),
            left=yuan(got.outstanding_fen),
        )
    )
    return 0


def run_villages(args: argparse.Namespace) -> int:
    with _client(args) as season:
        villages = list(season.village_income(args.year, region_code=args.region))
    emit("village-income", villages, args.output)
    if args.output == "table" and villages:
        total = sum(v.total_fen for v in villages)
        changed = sum(v.changed_status for v in villages)
        show(
            _(
                "{year}: {total} yuan to households of {n} villages; {changed} changed status"
            ).format(year=args.year, total=yuan(total), n=len(villages), changed=changed)
        )
    return 0
