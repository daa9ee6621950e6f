"""`fupin outcomes`: what became of each listing in a produce run, for the cooperative.

    fupin outcomes                  # the newest committed produce run
    fupin outcomes --run RUN_ID     # a given (e.g. proposed) run

One row per sold lane (buyer by name, price, pickup days) or unsold listing (the reason, and the
floor price at which it would have sold). A cooperative's key sees its own listings only; an
admin's every listing of the run. Names come from one BatchGetResources call for the run's
listings and one for its buyers (per 1,000 ids).
"""

from __future__ import annotations

import argparse
from typing import Any

from clients.cli.output import emit_csv_rows, emit_json, print_table, say
from clients.client import BUYERS, LISTINGS, RegistryClient
from clients.errors import UsageError
from clients.i18n import N_, _, enum_name
from clients.matcher_client import MatcherClient
from fupin.matcher.v1 import matcher_service_pb2 as mpb

NONE = "—"
OUTCOMES = {"SOLD": N_("sold"), "UNSOLD": N_("unsold")}


def add_command(commands: Any, client: argparse.ArgumentParser) -> None:
    outcomes = commands.add_parser(
        "outcomes", parents=[client], help=_("what became of each listing in a produce run")
    )
    outcomes.add_argument(
        "--run", dest="run_id", default="", help=_("default: the newest committed run")
    )
    outcomes.set_defaults(run=run_outcomes)


def run_outcomes(args: argparse.Namespace) -> int:
    with MatcherClient(args.target, timeout_s=args.timeout) as matcher:
        run_id = args.run_id or _newest(matcher)
        run = matcher.get(run_id)
    if run.kind != mpb.PRODUCE:
        raise UsageError(_("run {id} is not a produce run").format(id=run.id))
    listing_ids = [a.listing_id for a in run.produce.allocations]
    listing_ids += [u.listing_id for u in run.produce.unsold]
    with RegistryClient(args.target, timeout_s=args.timeout) as registry:
        listings: dict[str, Any] = registry.batch_get(LISTINGS, listing_ids)
        found = registry.batch_get(BUYERS, (a.buyer_id for a in run.produce.allocations))
        buyers = {i: b.display_name for i, b in found.items()}
    rows = [_sold(a, listings, buyers) for a in run.produce.allocations]
    rows += [_unsold(u, listings) for u in run.produce.unsold]
    if args.output == "json":
        for row in rows:
            emit_json(row)
        return 0
    if args.output == "csv":  # values as the API has them: fen, proto names
        keys = [k for _h, k in COLUMNS]
        emit_csv_rows(keys, [["" if row[k] is None else str(row[k]) for k in keys] for row in rows])
        return 0
    state = enum_name(mpb.RunState.DESCRIPTOR, run.state)
    say(_("run {id} ({state}): {n} outcomes").format(id=run.id, state=state, n=len(rows)))
    if rows:
        print_table(
            [_(h) for h, _k in COLUMNS], [[_cell(row[k]) for _h, k in COLUMNS] for row in rows]
        )
    return 0


def _newest(matcher: MatcherClient) -> str:
    for run in matcher.list(filter="kind = PRODUCE AND state = COMMITTED", limit=1):
        return run.id
    raise UsageError(_("no committed produce run yet; give --run RUN_ID"))


# (heading, row key) per column
COLUMNS = (
    (N_("LISTING"), "listing_id"),
    (N_("PRODUCT"), "product"),
    (N_("GRADE"), "grade"),
    (N_("OUTCOME"), "outcome"),
    (N_("KG"), "kg"),
    (N_("BUYER"), "buyer"),
    (N_("FEN/KG"), "price_fen"),
    (N_("PICKUP"), "pickup"),
    (N_("REASON"), "reason"),
    (N_("SELLS AT FLOOR"), "would_sell_at_floor_fen"),
)


def _sold(
    a: mpb.ProduceAllocation, listings: dict[str, Any], buyers: dict[str, str]
) -> dict[str, Any]:
    return {
        **_listing(a.listing_id, listings),
        "outcome": "SOLD",
        "kg": a.kg,
        "buyer": buyers.get(a.buyer_id, a.buyer_id),
        "buyer_id": a.buyer_id,
        "order_id": a.order_id,
        "price_fen": a.price_fen,
        "pickup": f"{a.pickup_from} – {a.pickup_until}" if a.pickup_from else "",
        "reason": "",
        "would_sell_at_floor_fen": None,
    }


def _unsold(u: mpb.UnsoldListing, listings: dict[str, Any]) -> dict[str, Any]:
    return {
        **_listing(u.listing_id, listings),
        "outcome": "UNSOLD",
        "kg": u.unsold_kg,
        "buyer": "",
        "price_fen": None,
        "pickup": "",
        "reason": enum_name(mpb.UnsoldReason.DESCRIPTOR, u.reason),
        # 0: no floor price would have sold it
        "would_sell_at_floor_fen": u.would_sell_at_floor_fen or None,
    }


def _listing(listing_id: str, listings: dict[str, Any]) -> dict[str, Any]:
    listing = listings.get(listing_id)
    product, grade = (listing.product, listing.grade) if listing else ("", "")
    return {"listing_id": listing_id, "product": product, "grade": grade}


def _cell(value: Any) -> str:
    if value is None:
        return NONE
    if value in OUTCOMES:
        return _(OUTCOMES[value])
    return f"{value:,}" if isinstance(value, int) else str(value)
