"""The produce run kind: listings matched to orders (MatchProduce).

The problem is inline (a platform's what-if) or a selection of the registry's open listings
and orders; a proposed run stores its allocations, which a commit reserves and fills. A
platform's selection takes its own buyer's orders only, and its run carries that buyer id as
its scope: the platform commits, discards and cancels only the runs it made.
"""

from __future__ import annotations

import datetime
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import convert_produce as convert
from matcher.service.convert import date
from matcher.service.jobs import ProduceJob, solve_produce
from matcher.service.kinds import (
    Ended,
    Limit,
    Prepared,
    RunKind,
    check_size,
    proposed,
    solved_inline,
)
from matcher.service.source import Allocation, RegistrySource, RunRecord
from matcher.solvers import produce
from registry.access.policy import Principal, Role
from registry.errors import FailedPrecondition, InvalidArgument
from registry.resources.requests import REGION_CODE
from registry.runs.data import OpenListingColumns, OpenOrder

PRODUCT = re.compile(r"[a-z0-9][a-z0-9_\-]{0,59}")

LIMITS = {
    "listings": Limit(200_000, "max_problem_listings"),
    "orders": Limit(20_000, "max_problem_orders"),
}


def prepare(
    request: mpb.MatchProduceRequest,
    source: RegistrySource,
    caller: Principal,
    limits: Mapping[str, Limit],
) -> Prepared:
    problem, parties = _problem(request, source, caller, limits)
    job = ProduceJob(
        problem,
        orders_per_listing=request.parameters.max_orders_per_listing,
        baseline=request.parameters.compare_baseline,
    )
    sizes = {"listings": len(problem.listings), "orders": len(problem.orders)}
    owner = caller.scope if caller.role is Role.PLATFORM else None
    return Prepared(job, sizes, lambda outcome: _ended(outcome, parties), owner)


def _problem(
    request: mpb.MatchProduceRequest,
    source: RegistrySource,
    caller: Principal,
    limits: Mapping[str, Limit],
) -> tuple[produce.ProduceColumns, Parties | None]:
    """The problem, and for a registry selection who sells and buys on it."""
    goal = convert.objective(request.parameters.objective)
    which = request.WhichOneof("source")
    if which == "inline":
        inline = request.inline
        check_size(limits, listings=convert.inline_listing_count(inline), orders=len(inline.orders))
        return convert.inline_problem(inline, goal), None
    if which != "selection":
        raise InvalidArgument.one("source", "set either inline or selection")
    sel = request.selection
    if not sel.product:
        raise InvalidArgument.one("selection.product", "is required")
    if not PRODUCT.fullmatch(sel.product):
        raise InvalidArgument.one("selection.product", "must be a slug like green_plum (<= 60)")
    if not REGION_CODE.fullmatch(sel.region_code):
        raise InvalidArgument.one("selection.region_code", "must be up to 12 digits")
    date("selection.today", sel.today)
    listings = source.open_listing_columns(
        product=sel.product, region_code=sel.region_code, today=sel.today
    )
    orders = source.open_orders(product=sel.product, today=sel.today)
    if caller.role is Role.PLATFORM:  # its own orders: another buyer's are not its to place
        orders = [order for order in orders if order.buyer_id == caller.scope]
    check_size(limits, listings=len(listings), orders=len(orders))
    parties = Parties(listings, {o.id: o for o in orders}, sel.today)
    return convert.registry_columns_problem(sel, listings, orders, goal), parties


@dataclass(frozen=True)
class Parties:
    """The registry rows a selection's run was solved on: its sellers and buyers."""

    listings: OpenListingColumns
    orders: Mapping[str, OpenOrder]
    today: str

    def name(self, message: mpb.ProduceResult, transit_days: Mapping[tuple[str, str], int]) -> None:
        """Each allocation's producer, buyer and pickup days; each unsold listing's producer."""
        ls = self.listings
        at = dict(zip(ls.id, itertools.count()))
        for a in message.allocations:
            i, order = at[a.listing_id], self.orders[a.order_id]
            a.producer_id, a.buyer_id = ls.producer_id[i], order.buyer_id
            a.pickup_from = max(ls.available_from[i], self.today)
            transit = datetime.timedelta(days=transit_days[a.listing_id, a.order_id])
            latest = (datetime.date.fromisoformat(order.deliver_by) - transit).isoformat()
            a.pickup_until = min(ls.available_until[i] or latest, latest)
        for u in message.unsold:
            u.producer_id = ls.producer_id[at[u.listing_id]]


def _ended(
    outcome: tuple[produce.ProduceResult, produce.ProduceResult | None], parties: Parties | None
) -> Ended:
    result, baseline = outcome
    message = convert.produce_result(result)
    if baseline is not None:
        message.baseline_kpis.CopyFrom(convert.produce_kpis(baseline.kpis))
        message.baseline_objective = int(baseline.objective)
    bound = result.bound if result.bound is not None else result.objective
    if parties is None:  # inline: the ids are the caller's, there is nothing to commit
        message.inline = True
        return Ended(proposed(result, bound, message), [])
    a = result.allocation_columns
    listing_ids = [a.listing_ids[i] for i in a.listing.tolist()]
    order_ids = [a.order_ids[j] for j in a.order.tolist()]
    pairs = zip(listing_ids, order_ids, strict=True)
    parties.name(message, dict(zip(pairs, a.transit_days.tolist(), strict=True)))
    allocations = list(map(Allocation, listing_ids, order_ids, a.kg.tolist()))
    return Ended(proposed(result, bound, message), allocations)


def save(
    source: RegistrySource, run_id: str, fields: dict[str, Any], rows: Sequence[Any]
) -> RunRecord:
    return source.update_run(run_id, allocations=rows, **fields)


def commit(
    source: RegistrySource, run: RunRecord, request_id: str, etag: str, caller: Principal
) -> RunRecord:
    if solved_inline(run, mpb.ProduceResult):
        raise FailedPrecondition(
            f"run {run.id} solved an inline problem; only registry selections can be committed"
        )
    return source.commit_produce(run.id, request_id=request_id, etag=etag)


KIND = RunKind(mpb.PRODUCE, prepare, solve_produce, save, commit, LIMITS)
