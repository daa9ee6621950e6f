"""An office's pages: households (filter, paging, file card), the watchlist, aid, stationing and
contracting runs (start, watch live, review, commit or discard) and the ledger of its region."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from clients.cli.year.reasons import reason_text
from clients.client import AID_PROGRAMS, HOUSEHOLDS, VILLAGES
from clients.i18n import catalog
from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from web.link import pages
from web.pages import Console, Ctx, page

OFFICE = ("office", "admin")
PAGE_SIZE = 20
WATCH_WAIT_S = 30.0  # how long the event stream waits for a run the solver has not created yet


def routes(console: Console) -> list[Route]:
    runs = console.runs

    def households(ctx: Ctx) -> Response:
        query = ctx.arg("filter")
        request = api.ListHouseholdsRequest(
            filter=query, page_size=PAGE_SIZE, page_token=ctx.arg("page")
        )
        result = ctx.link.call("registry", "ListHouseholds", request)
        template = (
            "households_rows.html" if ctx.request.headers.get("hx-request") else "households.html"
        )
        return ctx.render(
            template,
            households=result.households,
            next_page=result.next_page_token,
            filter=query,
            pb=pb,
        )

    def household(ctx: Ctx) -> Response:
        card = ctx.link.registry.get(HOUSEHOLDS, ctx.request.path_params["id"])
        village = ctx.link.registry.get(VILLAGES, card.village_id)
        return ctx.render("household.html", h=card, village=village, pb=pb)

    def watchlist(ctx: Ctx) -> Response:
        entries = list(ctx.link.registry.watchlist(limit=200))  # by risk, highest first
        translate = catalog(ctx.lang)
        why = [[reason_text(r, translate) for r in e.risk_reasons] for e in entries]
        return ctx.render("watchlist.html", entries=zip(entries, why, strict=True), api=api)

    def run_list(ctx: Ctx) -> Response:
        listed = ctx.link.call("matcher", "ListMatchRuns", mpb.ListMatchRunsRequest(page_size=30))
        programmes = list(ctx.link.registry.list(AID_PROGRAMS, limit=200))
        return ctx.render("runs.html", runs=listed.runs, programmes=programmes, mpb=mpb)

    def start(ctx: Ctx) -> Response:
        kind = ctx.request.path_params["kind"]
        limit = min(max(float(ctx.arg("time_limit") or 10), 1.0), 120.0)
        run_id = f"web-{uuid.uuid4().hex[:20]}"
        region = ctx.session.scope
        parameters = mpb.SolveParameters(time_limit_s=limit)
        request: Any
        if kind == "aid":
            chosen = [str(v) for v in ctx.form.getlist("programme")]
            method, request = (
                "AllocateAid",
                mpb.AllocateAidRequest(
                    selection=mpb.AidSelection(region_code=region, programme_ids=chosen),
                    parameters=parameters,
                ),
            )
        elif kind == "stationing":
            method, request = (
                "AssignCadres",
                mpb.AssignCadresRequest(
                    selection=cpb.CadreSelection(region_code=region), parameters=parameters
                ),
            )
        else:
            method, request = (
                "ContractHouseholds",
                mpb.ContractHouseholdsRequest(
                    selection=cpb.ContractingSelection(region_code=region), parameters=parameters
                ),
            )
        request.run_id = request.request_id = run_id
        runs.start(ctx.link, method, request, timeout_s=limit + 60)
        return ctx.redirect(f"/runs/{run_id}")

    def ledger(ctx: Ctx) -> Response:
        request = lpb.ListLedgerEntriesRequest(page_size=200, run_id=ctx.arg("run"))
        entries = list(pages(ctx.link, "ledger.ListLedgerEntries", request, "entries", 200))
        verified = None
        if ctx.request.method == "POST":
            verified = ctx.link.call(
                "ledger", "VerifyLedger", lpb.VerifyLedgerRequest(), timeout_s=60
            )
        return ctx.render(
            "ledger.html",
            entries=entries,
            verified=verified,
            lpb=lpb,
            can_verify=not ctx.session.scope,
        )

    return [
        Route("/office/households", page(console, households, roles=OFFICE)),
        Route("/office/households/{id}", page(console, household, roles=OFFICE)),
        Route("/office/watchlist", page(console, watchlist, roles=OFFICE)),
        Route("/office/runs", page(console, run_list, roles=OFFICE)),
        Route("/office/runs/{kind:str}", page(console, start, roles=OFFICE), methods=["POST"]),
        Route(
            "/ledger", page(console, ledger, roles=(*OFFICE, "auditor")), methods=["GET", "POST"]
        ),
        Route(
            "/auditor/ledger",
            page(console, ledger, roles=("auditor", "admin")),
            methods=["GET", "POST"],
        ),
    ]
