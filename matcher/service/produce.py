"""The produce run kind: listings matched to orders (MatchProduce).

The problem is inline (a platform's what-if) or a selection of the registry's open listings
and orders; a proposed run stores its allocations, which a commit reserves and fills.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import convert_produce as convert
from matcher.service.convert import date
from matcher.service.jobs import ProduceJob, solve_produce
from matcher.service.kinds import Ended, Limit, Prepared, RunKind, check_size, proposed
from matcher.service.source import Allocation, RegistrySource, RunRecord
from matcher.solvers import produce
from registry.access.policy import Principal, Role
from registry.errors import InvalidArgument
from registry.resources.requests import REGION_CODE

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
    problem = _problem(request, source, limits, caller)
    job = ProduceJob(
        problem,
        orders_per_listing=request.parameters.max_orders_per_listing,
        baseline=request.parameters.compare_baseline,
    )
    sizes = {"listings": len(problem.listings), "orders": len(problem.orders)}
    return Prepared(job, sizes, _ended)


def _problem(
    request: mpb.MatchProduceRequest,
    source: RegistrySource,
    limits: Mapping[str, Limit],
    caller: Principal,
) -> produce.ProduceProblem:
    goal = convert.objective(request.parameters.objective)
    which = request.WhichOneof("source")
    if which == "inline":
        inline = request.inline
        check_size(limits, listings=len(inline.listings), orders=len(inline.orders))
        return convert.inline_problem(inline, goal)
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
    listings = source.open_listings(
        product=sel.product, region_code=sel.region_code, today=sel.today
    )
    orders = source.open_orders(product=sel.product, today=sel.today)
    if caller.role is Role.PLATFORM:  # a platform matches its own buyer's orders, and sees
        orders = [o for o in orders if o.buyer_id == caller.scope]  # no one else's prices
    check_size(limits, listings=len(listings), orders=len(orders))
    return convert.registry_problem(sel, listings, orders, goal)


def _ended(outcome: tuple[produce.ProduceResult, produce.ProduceResult | None]) -> Ended:
    result, baseline = outcome
    message = convert.produce_result(result)
    if baseline is not None:
        message.baseline_kpis.CopyFrom(convert.produce_kpis(baseline.kpis))
        message.baseline_objective = int(baseline.objective)
    bound = result.bound if result.bound is not None else result.objective
    allocations = [Allocation(a.listing_id, a.order_id, a.kg) for a in result.allocations]
    return Ended(proposed(result, bound, message), allocations)


def save(source: RegistrySource, run_id: str, fields: dict[str, Any], rows: Sequence[Any]) -> None:
    source.update_run(run_id, allocations=rows, **fields)


def commit(
    source: RegistrySource, run: RunRecord, request_id: str, etag: str, caller: Principal
) -> RunRecord:
    return source.commit_produce(run.id, request_id=request_id, etag=etag)


KIND = RunKind(mpb.PRODUCE, prepare, solve_produce, save, commit, LIMITS)
