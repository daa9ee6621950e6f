"""`fupin hold …`: checkout holds (made by `fupin quick-source --hold`) from the command line.

    fupin hold list [--state held|confirmed|released|expired]
    fupin hold get ID
    fupin hold confirm ID [--request-id ID]   an order and shipments of the held kilograms
    fupin hold release ID [--request-id ID]   the kilograms go back to their listings

Only the platform whose key made a hold sees and moves it. --output table, json or csv.
"""

from __future__ import annotations

import argparse
from typing import Any

from clients.cli.output import emit, emit_one
from clients.cli.season.shipments import _request_id as request_id
from clients.cli.season.shipments import season_stub
from clients.i18n import _
from fupin.registry.v1 import season_service_pb2 as spb

STATES = {
    "held": spb.HOLD_HELD,
    "confirmed": spb.HOLD_CONFIRMED,
    "released": spb.HOLD_RELEASED,
    "expired": spb.HOLD_EXPIRED,
}


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    hold = commands.add_parser("hold", help=_("checkout holds: list, confirm, release"))
    verbs = hold.add_subparsers(dest="hold_verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", parents=[client], help=_("your holds, newest first"))
    listing.add_argument("--state", choices=list(STATES), default="")
    listing.set_defaults(run=run_list)
    for verb, helptext in (
        ("get", _("one hold")),
        ("confirm", _("an order and shipments of the held kilograms")),
        ("release", _("give the held kilograms back")),
    ):
        sub = verbs.add_parser(verb, parents=[client], help=helptext)
        sub.add_argument("id")
        if verb != "get":
            sub.add_argument("--request-id", default="")
        sub.set_defaults(run=run_step, hold_verb=verb)


def run_list(args: argparse.Namespace) -> int:
    request = spb.ListHoldsRequest(state=STATES.get(args.state, spb.HOLD_STATE_UNSPECIFIED))
    with season_stub(args) as stub:
        holds = stub.ListHolds(request, timeout=args.timeout).holds
    emit("holds", holds, args.output)
    return 0


def run_step(args: argparse.Namespace) -> int:
    with season_stub(args) as stub:
        if args.hold_verb == "get":
            hold = stub.GetHold(spb.GetHoldRequest(id=args.id), timeout=args.timeout)
        elif args.hold_verb == "confirm":
            request = spb.ConfirmHoldRequest(id=args.id, request_id=request_id(args))
            hold = stub.ConfirmHold(request, timeout=args.timeout)
        else:
            release = spb.ReleaseHoldRequest(id=args.id, request_id=request_id(args))
            hold = stub.ReleaseHold(release, timeout=args.timeout)
    if args.output == "csv":
        emit("holds", [hold], args.output)
    else:
        emit_one(hold, args.output)
    return 0
