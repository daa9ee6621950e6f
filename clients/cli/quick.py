"""`fupin quick-source ORDER_ID --today YYYY-MM-DD [--hold [--minutes N]]`: the best open
listings for one order; with --hold, their suggested kilograms held for the order (confirmed or
released with `fupin hold`, clients/cli/season/holds.py).

The checkout call (QuickSource) for a registry order: its product, grades, quantity still open,
price, deadline and its buyer's location; the answer is ranked by value per kg with the poverty
bonus. Producer names come from one paged read of producers (a household grower's is masked
for a platform).
"""

from __future__ import annotations

import argparse
from typing import Any

from clients.cli.cells import when
from clients.cli.output import emit_csv_rows, emit_json, emit_one, print_table, say
from clients.client import BUYERS, ORDERS, PRODUCERS, RegistryClient
from clients.errors import UsageError
from clients.i18n import N_, _, enum_name
from clients.matcher_client import MatcherClient
from fupin.matcher.v1 import matcher_service_pb2 as mpb

COLUMNS = (
    (N_("LISTING"), "listing_id"),
    (N_("PRODUCER"), "producer"),
    (N_("CLASS"), "poverty_class"),
    (N_("AVAILABLE KG"), "available_kg"),
    (N_("SUGGESTED KG"), "suggested_kg"),
    (N_("VALUE FEN/KG"), "value_fen"),
    (N_("TRANSPORT FEN/KG"), "transport_fen"),
    (N_("KM"), "distance_km"),
)


def add_command(commands: Any, client: argparse.ArgumentParser) -> None:
    quick = commands.add_parser(
        "quick-source", parents=[client], help=_("the best open listings for one order")
    )
    quick.add_argument("order_id", metavar="ORDER_ID")
    quick.add_argument("--today", required=True, help=_("YYYY-MM-DD: earliest departure"))
    quick.add_argument("--max", type=int, default=10, help=_("at most N listings (100)"))
    quick.add_argument(
        "--hold", action="store_true", help=_("hold the suggested kilograms for this order")
    )
    quick.add_argument("--minutes", type=int, default=0, help=_("hold for N minutes (10; 30)"))
    quick.add_argument("--request-id", default="", help=_("retry a hold without holding more"))
    quick.set_defaults(run=run_quick_source)


def run_quick_source(args: argparse.Namespace) -> int:
    with RegistryClient(args.target, timeout_s=args.timeout) as registry:
        order = registry.get(ORDERS, args.order_id)
        buyer = registry.get(BUYERS, order.buyer_id)
        producers = {p.id: p.display_name for p in registry.list(PRODUCERS)}
    open_kg = order.max_quantity_kg - order.filled_kg
    if open_kg <= 0:
        raise UsageError(_("order {id} is filled").format(id=order.id))
    inline = mpb.InlineOrder(
        id=order.id,
        product=order.product,
        accepted_grades=order.accepted_grades,
        min_quantity_kg=max(order.min_quantity_kg - order.filled_kg, 0),
        max_quantity_kg=open_kg,
        price_fen=order.price_fen,
        location=buyer.location,
        deliver_by=order.deliver_by,
        max_distance_km=order.max_distance_km,
    )
    with MatcherClient(args.target, timeout_s=args.timeout) as matcher:
        hold = None
        if args.hold:
            hold = mpb.HoldOptions(
                minutes=args.minutes, request_id=args.request_id, order_id=order.id
            )
        found = matcher.quick_source(inline, today=args.today, max_results=args.max, hold=hold)
    rows = [_row(c, producers) for c in found.candidates]
    if args.output == "json":
        for row in rows:
            emit_json(row)
    elif args.output == "csv":  # the ids and numbers as the API has them
        keys = ["listing_id", "producer_id", "producer", *(k for _h, k in COLUMNS[2:])]
        emit_csv_rows(keys, [[str(row[k]) for k in keys] for row in rows])
    elif rows:
        headings = [_(heading) for heading, _key in COLUMNS]
        print_table(headings, [[_cell(row[key]) for _h, key in COLUMNS] for row in rows])
    else:
        say(_("no open listing fits order {id}").format(id=order.id))
    if found.HasField("hold") and args.output != "json":
        say(
            _("held {kg} kg until {time}: hold {id} (fupin hold confirm|release {id})").format(
                kg=f"{found.hold.kg:,}", time=when(found.hold.expire_time), id=found.hold.id
            )
        )
    elif found.HasField("hold"):
        emit_one(found.hold, "json")
    return 0


def _row(c: mpb.QuickSourceCandidate, producers: dict[str, str]) -> dict[str, Any]:
    return {
        "listing_id": c.listing_id,
        "producer_id": c.producer_id,
        "producer": producers.get(c.producer_id, c.producer_id),
        "poverty_class": enum_name(mpb.PovertyClass.DESCRIPTOR, c.poverty_class),
        "available_kg": c.available_kg,
        "suggested_kg": c.suggested_kg,
        "value_fen": c.value_fen,
        "transport_fen": c.transport_fen,
        "distance_km": round(c.distance_km, 1),
    }


def _cell(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)
