"""`fupin shipments …`: a committed produce run's shipments from the command line.

    fupin shipments list [--run ID] [--listing ID] [--order ID] [--state STATE] [--limit N]
    fupin shipments get ID
    fupin shipments dispatch ID [--request-id ID]
    fupin shipments receive ID --received-kg N [--rejected-kg N --reject-reason grade|quality|late]
                               [--paid-price-fen N] [--request-id ID]
    fupin shipments cancel ID --reason TEXT [--request-id ID]
    fupin shipments pay ID --amount-fen N --paid-on YYYY-MM-DD [--reference TEXT] [--request-id ID]
    fupin dividends pay PRODUCER_ID --amount-fen N [--rule shares|per-kg] [--reference T]
                                    [--paid-on D] [--request-id ID]
    fupin dividends deliveries LISTING_ID HOUSEHOLD_ID=KG...   members' kg into a listing
    fupin shipments batch-dispatch|batch-receive|batch-pay FILE, fupin dividends batch-pay
    FILE: a CSV file's steps by one batch call (clients/cli/season/batches.py)
    fupin account PRODUCER_ID          shipped, received, owed, paid, paid out to members

--output table (default), json (one object per line) or csv (a header line, then one line per
shipment). A step without --request-id sends a fresh one, so a retry by the client after a lost
answer changes nothing.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from clients import auth
from clients.cli.output import emit, emit_one, print_table, show
from clients.cli.printers import names_from
from clients.cli.season import batches
from clients.errors import UsageError
from clients.i18n import _
from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc

STATES = {
    "committed": spb.SHIPMENT_COMMITTED,
    "dispatched": spb.SHIPMENT_DISPATCHED,
    "received": spb.SHIPMENT_RECEIVED,
    "cancelled": spb.SHIPMENT_CANCELLED,
}
REASONS = {"grade": spb.REJECT_GRADE, "quality": spb.REJECT_QUALITY, "late": spb.REJECT_LATE}
RULES = {"shares": spb.BY_SHARES, "per-kg": spb.PER_DELIVERED_KG}
PAGE = 1000


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    ship = commands.add_parser("shipments", help=_("shipments of committed produce runs"))
    verbs = ship.add_subparsers(dest="shipments_verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", parents=[client], help=_("shipments, in id order"))
    listing.add_argument("--run", dest="run_id", default="", help=_("match run id"))
    listing.add_argument("--listing", dest="listing_id", default="")
    listing.add_argument("--order", dest="order_id", default="")
    listing.add_argument("--state", choices=list(STATES), default="")
    listing.add_argument("--limit", type=int, default=0, help=_("at most N (0: all)"))
    listing.set_defaults(run=run_list)
    get = verbs.add_parser("get", parents=[client], help=_("one shipment"))
    get.add_argument("id")
    get.set_defaults(run=run_get)
    dispatch = verbs.add_parser("dispatch", parents=[client], help=_("the kilograms left"))
    dispatch.add_argument("id")
    dispatch.add_argument("--request-id", default="")
    dispatch.set_defaults(run=run_dispatch)
    receive = verbs.add_parser("receive", parents=[client], help=_("the buyer received it"))
    receive.add_argument("id")
    receive.add_argument("--received-kg", type=int, required=True)
    receive.add_argument("--rejected-kg", type=int, default=0)
    receive.add_argument("--reject-reason", choices=list(REASONS), default="")
    receive.add_argument("--paid-price-fen", type=int, help=_("per kg; default: the order's"))
    receive.add_argument("--request-id", default="")
    receive.set_defaults(run=run_receive)
    cancel = verbs.add_parser("cancel", parents=[client], help=_("cancel before dispatch"))
    cancel.add_argument("id")
    cancel.add_argument("--reason", required=True)
    cancel.add_argument("--request-id", default="")
    cancel.set_defaults(run=run_cancel)
    pay = verbs.add_parser("pay", parents=[client], help=_("the buyer paid for a shipment"))
    pay.add_argument("id")
    pay.add_argument("--amount-fen", type=int, required=True)
    pay.add_argument("--paid-on", required=True, help=_("YYYY-MM-DD"))
    pay.add_argument("--reference", default="")
    pay.add_argument("--request-id", default="")
    pay.set_defaults(run=run_pay)
    batches.add_shipment_verbs(verbs, client)
    dividends = commands.add_parser("dividends", help=_("a cooperative pays its members"))
    dverbs = dividends.add_subparsers(dest="dividends_verb", required=True, metavar="VERB")
    payout = dverbs.add_parser("pay", parents=[client], help=_("by the members' shares"))
    payout.add_argument("producer_id")
    payout.add_argument("--amount-fen", type=int, required=True)
    payout.add_argument("--reference", default="")
    payout.add_argument("--paid-on", default="", help=_("YYYY-MM-DD: the income year (today)"))
    payout.add_argument("--request-id", default="")
    payout.add_argument(
        "--rule", choices=list(RULES), default="shares", help=_("by shares or per delivered kg")
    )
    payout.set_defaults(run=run_dividends)
    batches.add_dividend_verbs(dverbs, client)
    delivered = dverbs.add_parser(
        "deliveries", parents=[client], help=_("the kilograms each member delivered")
    )
    delivered.add_argument("listing_id")
    delivered.add_argument("members", nargs="*", metavar="HOUSEHOLD_ID=KG")
    delivered.add_argument("--request-id", default="")
    delivered.set_defaults(run=run_deliveries)
    account = commands.add_parser("account", parents=[client], help=_("a producer's account"))
    account.add_argument("producer_id")
    account.set_defaults(run=run_account)


def season_stub(args: argparse.Namespace) -> AbstractContextManager[spb_grpc.SeasonServiceStub]:
    """The SeasonService stub; gRPC errors leave as the client's typed errors."""
    return auth.client_stub(args.target, spb_grpc.SeasonServiceStub)


def run_list(args: argparse.Namespace) -> int:
    with season_stub(args) as stub:
        rows = list(_pages(stub, args))
    _emit(args, rows, args.output)
    return 0


def _emit(args: argparse.Namespace, shipments: list[spb.Shipment], output: str) -> None:
    """Shipments with their producer's and buyer's names beside the ids (one BatchGetResources
    call per kind for the lot)."""
    with names_from(args.target, args.timeout) as names:
        emit("shipments", shipments, output, names)


def _pages(stub: spb_grpc.SeasonServiceStub, args: argparse.Namespace) -> Iterator[spb.Shipment]:
    request = spb.ListShipmentsRequest(
        run_id=args.run_id,
        listing_id=args.listing_id,
        order_id=args.order_id,
        state=STATES.get(args.state, spb.SHIPMENT_STATE_UNSPECIFIED),
        page_size=PAGE,
    )
    count = 0
    while True:
        page = stub.ListShipments(request, timeout=args.timeout)
        for shipment in page.shipments:
            yield shipment
            count += 1
            if args.limit and count >= args.limit:
                return
        if not page.next_page_token:
            return
        request.page_token = page.next_page_token


def run_get(args: argparse.Namespace) -> int:
    with season_stub(args) as stub:
        shipment = stub.GetShipment(spb.GetShipmentRequest(id=args.id), timeout=args.timeout)
    return _one(args, shipment)


def run_dispatch(args: argparse.Namespace) -> int:
    request = spb.DispatchShipmentRequest(id=args.id, request_id=_request_id(args))
    with season_stub(args) as stub:
        shipment = stub.DispatchShipment(request, timeout=args.timeout)
    return _one(args, shipment)


def run_receive(args: argparse.Namespace) -> int:
    request = spb.ReceiveShipmentRequest(
        id=args.id,
        received_kg=args.received_kg,
        rejected_kg=args.rejected_kg,
        reject_reason=REASONS.get(args.reject_reason, spb.REJECT_REASON_UNSPECIFIED),
        request_id=_request_id(args),
    )
    if args.paid_price_fen is not None:
        request.paid_price_fen = args.paid_price_fen
    with season_stub(args) as stub:
        shipment = stub.ReceiveShipment(request, timeout=args.timeout)
    return _one(args, shipment)


def run_cancel(args: argparse.Namespace) -> int:
    request = spb.CancelShipmentRequest(
        id=args.id, reason=args.reason, request_id=_request_id(args)
    )
    with season_stub(args) as stub:
        shipment = stub.CancelShipment(request, timeout=args.timeout)
    return _one(args, shipment)


def run_pay(args: argparse.Namespace) -> int:
    request = spb.RecordPaymentRequest(
        shipment_id=args.id,
        amount_fen=args.amount_fen,
        paid_on=args.paid_on,
        reference=args.reference,
        request_id=_request_id(args),
    )
    with season_stub(args) as stub:
        shipment = stub.RecordPayment(request, timeout=args.timeout)
    return _one(args, shipment)


def run_dividends(args: argparse.Namespace) -> int:
    request = spb.PayDividendsRequest(
        producer_id=args.producer_id,
        amount_fen=args.amount_fen,
        reference=args.reference,
        paid_on=args.paid_on,
        rule=RULES[args.rule],
        request_id=_request_id(args),
    )
    with season_stub(args) as stub:
        paid = stub.PayDividends(request, timeout=args.timeout)
    if args.output != "table":
        emit_one(paid, "json")
        return 0
    rows = [
        [
            d.household_id,
            f"{d.share_permille}‰",
            f"{d.delivered_kg:,}",
            f"{d.amount_fen / 100:,.2f}",
        ]
        for d in paid.dividends
    ]
    print_table([_("HOUSEHOLD"), _("SHARE"), _("DELIVERED KG"), _("YUAN")], rows)
    total = sum(d.amount_fen for d in paid.dividends)
    show(
        _("paid {total} yuan to {n} member households (batch {batch})").format(
            total=f"{total / 100:,.2f}", n=len(paid.dividends), batch=paid.batch_id
        )
    )
    return 0


def run_deliveries(args: argparse.Namespace) -> int:
    pairs = []
    for item in args.members:
        household, _sep, kg = item.partition("=")
        if not kg.isdigit():
            raise UsageError(_("{item}: expected HOUSEHOLD_ID=KG").format(item=item))
        pairs.append(spb.MemberDelivery(household_id=household, kg=int(kg)))
    request = spb.RecordDeliveriesRequest(
        listing_id=args.listing_id, deliveries=pairs, request_id=_request_id(args)
    )
    with season_stub(args) as stub:
        kept = stub.RecordDeliveries(request, timeout=args.timeout)
    if args.output != "table":
        emit_one(kept, "json")
        return 0
    print_table(
        [_("HOUSEHOLD"), _("DELIVERED KG")],
        [[d.household_id, f"{d.kg:,}"] for d in kept.deliveries],
    )
    return 0


def run_account(args: argparse.Namespace) -> int:
    request = spb.GetProducerAccountRequest(producer_id=args.producer_id)
    with season_stub(args) as stub:
        account = stub.GetProducerAccount(request, timeout=args.timeout)
    if args.output != "table":
        emit_one(account, "json")
        return 0
    kg = [
        (_("shipped kg"), account.shipped_kg),
        (_("received kg"), account.received_kg),
        (_("rejected kg"), account.rejected_kg),
    ]
    money = [
        (_("owed (yuan)"), account.owed_fen),
        (_("paid (yuan)"), account.paid_fen),
        (_("outstanding (yuan)"), account.outstanding_fen),
        (_("paid out to members (yuan)"), account.dividends_fen),
        (_("not yet paid out (yuan)"), account.undistributed_fen),
    ]
    rows = [[name, f"{value:,}"] for name, value in kg]
    rows += [[name, f"{value / 100:,.2f}"] for name, value in money]
    print_table(None, rows)
    return 0


def yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def _request_id(args: argparse.Namespace) -> str:
    return str(args.request_id or f"cli-{uuid.uuid4().hex}")


def _one(args: argparse.Namespace, shipment: spb.Shipment) -> int:
    if args.output != "csv":
        with names_from(args.target, args.timeout) as names:
            emit_one(shipment, args.output, names, "shipments")
        return 0
    _emit(args, [shipment], args.output)
    return 0
