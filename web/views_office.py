"""An office's pages: households (filter, paging, file card), the watchlist, aid, stationing and
contracting runs (start, watch live, review, commit or discard) and the ledger of its region."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from clients.client import AID_PROGRAMS, CADRES, HOUSEHOLDS, VILLAGES
from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from web import maps
from web.link import Link, pages
from web.pages import Console, Ctx, page

OFFICE = ("office", "admin")
PAGE_SIZE = 20
WATCH_WAIT_S = 30.0  # how long the event stream waits for a run the solver has not created yet


def routes(console: Console) -> list[Route]:
    runs = Launcher()

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
        entries = list(ctx.link.registry.watchlist(limit=200))
        return ctx.render("watchlist.html", entries=entries, api=api)

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

    def run_page(ctx: Ctx) -> Response:
        run_id = ctx.request.path_params["id"]
        failure = runs.failure(run_id)
        if failure:
            return ctx.render("run.html", run=None, run_id=run_id, failure=failure, mpb=mpb, pb=pb)
        try:
            run = ctx.link.call("matcher", "GetMatchRun", mpb.GetMatchRunRequest(id=run_id))
        except Exception:
            if not runs.pending(run_id):
                raise
            run = None  # not created yet: the page watches for it
        return ctx.render(
            "run.html", run=run, run_id=run_id, failure="", mpb=mpb, pb=pb, **review(ctx, run)
        )

    def events(ctx: Ctx) -> Response:
        run_id = ctx.request.path_params["id"]
        return StreamingResponse(
            watch(ctx.link, run_id, ctx.t, runs),
            media_type="text/event-stream",
            headers={"cache-control": "no-store"},
        )

    def decide(ctx: Ctx) -> Response:
        run_id, verb = ctx.request.path_params["id"], ctx.request.path_params["verb"]
        if verb == "commit":
            request = mpb.CommitMatchRunRequest(
                id=run_id, etag=ctx.arg("etag"), request_id=f"commit-{run_id}"
            )
            ctx.link.call("matcher", "CommitMatchRun", request, timeout_s=60)
            return ctx.redirect(f"/runs/{run_id}", "committed")
        ctx.link.call(
            "matcher",
            "DiscardMatchRun",
            mpb.DiscardMatchRunRequest(id=run_id, etag=ctx.arg("etag")),
        )
        return ctx.redirect(f"/runs/{run_id}", "discarded")

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
        Route("/runs/{id}", page(console, run_page)),
        Route("/runs/{id}/events", page(console, events)),
        Route("/runs/{id}/{verb:str}", page(console, decide, roles=OFFICE), methods=["POST"]),
        Route(
            "/ledger", page(console, ledger, roles=(*OFFICE, "auditor")), methods=["GET", "POST"]
        ),
        Route(
            "/auditor/ledger",
            page(console, ledger, roles=("auditor", "admin")),
            methods=["GET", "POST"],
        ),
    ]


def review(ctx: Ctx, run: Any) -> dict[str, Any]:
    """Names and a map for a proposed or committed run's result."""
    if run is None or run.state not in (mpb.PROPOSED, mpb.COMMITTED, mpb.DISCARDED):
        return {"names": {}, "map_svg": ""}
    names: dict[str, str] = {}
    points: list[maps.Point] = []
    lines: list[maps.Line] = []
    region = ctx.session.scope
    villages = {
        v.id: v for v in ctx.link.registry.list(VILLAGES, filter=_prefix(region), limit=2000)
    }
    names.update({v.id: v.display_name for v in villages.values()})
    if run.kind == mpb.AID or run.kind == mpb.CADRE_CONTRACTING:
        for h in ctx.link.registry.list(HOUSEHOLDS, filter="", limit=5000):
            names[h.id] = h.head_name
        names.update(
            {p.id: p.display_name for p in ctx.link.registry.list(AID_PROGRAMS, limit=500)}
        )
    if run.kind in (mpb.CADRE_STATIONING, mpb.CADRE_CONTRACTING):
        cadres = {c.id: c for c in ctx.link.registry.list(CADRES, limit=5000)}
        names.update({c.id: c.display_name for c in cadres.values()})
        if run.kind == mpb.CADRE_STATIONING:
            for posting in run.stationing.postings:
                cadre, village = cadres.get(posting.cadre_id), villages.get(posting.village_id)
                if cadre is None or village is None:
                    continue
                points.append(
                    maps.Point(
                        cadre.id,
                        cadre.display_name,
                        cadre.location.latitude,
                        cadre.location.longitude,
                        "cadre",
                    )
                )
                lines.append(
                    maps.Line(
                        cadre.id, village.id, 1.0, f"{cadre.display_name} → {village.display_name}"
                    )
                )
    points += [
        maps.Point(v.id, v.display_name, v.location.latitude, v.location.longitude)
        for v in villages.values()
    ]
    return {"names": names, "map_svg": maps.svg(points, lines, ctx.t("map"))}


def _prefix(region: str) -> str:
    return f'county_code = "{region[:6]}"' if len(region) >= 6 else ""


def watch(link: Link, run_id: str, t: Any, runs: Launcher) -> Iterator[str]:
    """Server-sent events: one `progress` per WatchMatchRun event, `done` at the end."""
    deadline = time.monotonic() + WATCH_WAIT_S
    while True:
        call = link.stream("matcher", "WatchMatchRun", mpb.WatchMatchRunRequest(id=run_id), 3600)
        try:
            for event in call:
                yield _event(
                    "progress",
                    {
                        "state": t(mpb.RunState.Name(event.state)),
                        "objective": f"{event.objective:,.0f}",
                        "bound": f"{event.best_bound:,.0f}",
                        "elapsed": f"{event.elapsed_s:.2f}",
                    },
                )
            yield _event("done", {})
            return
        except grpc.RpcError as error:
            waiting = error.code() == grpc.StatusCode.NOT_FOUND and runs.pending(run_id)
            if not waiting or time.monotonic() > deadline:
                yield _event("done", {})
                return
            time.sleep(0.2)
        finally:
            call.cancel()


def _event(name: str, data: dict[str, str]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


class Launcher:
    """The calls that start runs, each on a thread of its own: a run-creating RPC answers when
    the run is solved, and the page that started it returns at once to watch it. What is kept
    is only whether each call is still open and, if it failed, why (for the run's page)."""

    def __init__(self) -> None:
        self._open: set[str] = set()
        self._failures: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self, link: Link, method: str, request: Any, *, timeout_s: float) -> None:
        run_id = request.run_id
        with self._lock:
            self._open.add(run_id)

        def call() -> None:
            try:
                link.call("matcher", method, request, timeout_s=timeout_s)
            except Exception as error:  # shown on the run's page
                with self._lock:
                    self._failures[run_id] = str(getattr(error, "message", error))
                    while len(self._failures) > 1000:
                        self._failures.pop(next(iter(self._failures)))
            finally:
                with self._lock:
                    self._open.discard(run_id)

        threading.Thread(target=call, name=f"run-{run_id}", daemon=True).start()

    def pending(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._open

    def failure(self, run_id: str) -> str:
        with self._lock:
            return self._failures.get(run_id, "")
