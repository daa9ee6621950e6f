"""`fupin grants …`: committed aid grants after the commit, from the command line.

    fupin grants disburse RUN_ID HOUSEHOLD_ID PROGRAMME_ID --channel bank-card|cash|in-kind
                          [--reference TEXT] [--request-id ID]
    fupin grants sign RUN_ID HOUSEHOLD_ID PROGRAMME_ID --by household|village [--on YYYY-MM-DD]
                      [--request-id ID]
    fupin grants clawback RUN_ID HOUSEHOLD_ID PROGRAMME_ID --reason TEXT [--request-id ID]
    fupin grants delivery [--region CODE] [--overdue-days N]

`delivery` shows committed, disbursed, received and clawed-back aid per programme, village and
county, then the grants committed longer ago than the overdue days and never disbursed.
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from clients.cli.output import emit_json, emit_one, print_table, say, show
from clients.cli.printers import NONE, names_from
from clients.cli.season.shipments import season_stub
from clients.client import AID_PROGRAMS, HOUSEHOLDS
from clients.i18n import _
from clients.names import Names
from fupin.registry.v1 import season_service_pb2 as spb

CHANNELS = {"bank-card": spb.BANK_CARD, "cash": spb.CASH, "in-kind": spb.IN_KIND}
SIGNERS = {"household": spb.SIGNED_BY_HOUSEHOLD, "village": spb.SIGNED_BY_VILLAGE}


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    grants = commands.add_parser("grants", help=_("aid grants: disbursed, signed for, clawed back"))
    verbs = grants.add_subparsers(dest="grants_verb", required=True, metavar="VERB")
    disburse = _grant_verb(verbs, client, "disburse", "the grant left through a channel")
    disburse.add_argument("--channel", choices=list(CHANNELS), required=True)
    disburse.add_argument("--reference", default="")
    disburse.set_defaults(run=run_disburse)
    sign = _grant_verb(verbs, client, "sign", "the household or its village signed for it")
    sign.add_argument("--by", choices=list(SIGNERS), required=True)
    sign.add_argument("--on", default="", help=_("YYYY-MM-DD: the income year (today)"))
    sign.set_defaults(run=run_sign)
    claw = _grant_verb(verbs, client, "clawback", "returned or clawed back")
    claw.add_argument("--reason", required=True)
    claw.set_defaults(run=run_clawback)
    delivery = verbs.add_parser("delivery", parents=[client], help=_("committed vs delivered"))
    delivery.add_argument("--region", default="", help=_("administrative code prefix"))
    delivery.add_argument("--overdue-days", type=int, default=0, help=_("0: the server's"))
    delivery.set_defaults(run=run_delivery)


def _grant_verb(verbs: Any, client: argparse.ArgumentParser, name: str, text: str) -> Any:
    verb = verbs.add_parser(name, parents=[client], help=text)
    for arg in ("run_id", "household_id", "programme_id"):
        verb.add_argument(arg)
    verb.add_argument("--request-id", default="")
    return verb


def _key(args: argparse.Namespace) -> spb.GrantKey:
    return spb.GrantKey(
        run_id=args.run_id, household_id=args.household_id, programme_id=args.programme_id
    )


def _request_id(args: argparse.Namespace) -> str:
    return str(args.request_id or f"cli-{uuid.uuid4().hex}")


def run_disburse(args: argparse.Namespace) -> int:
    request = spb.DisburseGrantRequest(
        grant=_key(args),
        channel=CHANNELS[args.channel],
        reference=args.reference,
        request_id=_request_id(args),
    )
    with season_stub(args) as stub:
        emit_one(stub.DisburseGrant(request, timeout=args.timeout), args.output)
    return 0


def run_sign(args: argparse.Namespace) -> int:
    request = spb.SignForGrantRequest(
        grant=_key(args),
        signed_by=SIGNERS[args.by],
        signed_on=args.on,
        request_id=_request_id(args),
    )
    with season_stub(args) as stub:
        emit_one(stub.SignForGrant(request, timeout=args.timeout), args.output)
    return 0


def run_clawback(args: argparse.Namespace) -> int:
    request = spb.ClawBackGrantRequest(
        grant=_key(args), reason=args.reason, request_id=_request_id(args)
    )
    with season_stub(args) as stub:
        emit_one(stub.ClawBackGrant(request, timeout=args.timeout), args.output)
    return 0


def run_delivery(args: argparse.Namespace) -> int:
    request = spb.GetAidDeliveryRequest(region_code=args.region, overdue_days=args.overdue_days)
    with season_stub(args) as stub:
        report = stub.GetAidDelivery(request, timeout=args.timeout)
    if args.output != "table":
        emit_json(report)
        return 0
    with names_from(args.target, args.timeout) as names:
        _totals(report, names)
        overdue = _overdue(report, names)
    if overdue:
        show(_("not disbursed after {days} days:").format(days=report.overdue_days))
        headings = [_("RUN"), _("HOUSEHOLD"), _("HEAD"), _("PROGRAMME"), _("NAME")]
        print_table([*headings, _("YUAN"), _("DAYS")], overdue)
    else:
        say(_("no grant overdue ({days} days)").format(days=report.overdue_days))
    return 0


def _totals(report: spb.AidDelivery, names: Names) -> None:
    """A table per programme (with its name), village and county."""
    programme = names.of(AID_PROGRAMS, (t.key for t in report.programmes))
    headings = [_("GRANTS"), _("COMMITTED"), _("DISBURSED"), _("RECEIVED"), _("CLAWED BACK")]
    for title, totals in (
        ([_("PROGRAMME"), _("NAME")], report.programmes),
        ([_("VILLAGE")], report.villages),
        ([_("COUNTY")], report.counties),
    ):
        rows = [
            [
                t.key,
                *([programme.get(t.key) or NONE] if len(title) > 1 else []),
                str(t.grants),
                *(
                    f"{fen / 100:,.2f}"
                    for fen in (t.committed_fen, t.disbursed_fen, t.received_fen)
                ),
                f"{t.clawed_back_fen / 100:,.2f}",
            ]
            for t in totals
        ]
        if rows:
            print_table([*title, *headings], rows)
            show("")


def _overdue(report: spb.AidDelivery, names: Names) -> list[list[str]]:
    """The grants not disbursed in time, with the head's and the programme's names (one
    BatchGetResources call per kind)."""
    heads = names.of(HOUSEHOLDS, (o.grant.household_id for o in report.overdue))
    programmes = names.of(AID_PROGRAMS, (o.grant.programme_id for o in report.overdue))
    return [
        [
            o.grant.run_id,
            o.grant.household_id,
            heads.get(o.grant.household_id) or NONE,
            o.grant.programme_id,
            programmes.get(o.grant.programme_id) or NONE,
            f"{o.amount_fen / 100:,.2f}",
            str(o.days),
        ]
        for o in report.overdue
    ]
