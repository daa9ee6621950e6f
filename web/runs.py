"""A run's own pages, whoever started it (an office's aid, stationing and contracting runs; a
platform's what-if produce match): the page that watches it live (server-sent events from
WatchMatchRun), its review (names, a map of postings or flows, the result's tables) and commit
or discard. Who may do what stays with the matcher: a platform commits only its own runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from clients.client import AID_PROGRAMS, BUYERS, CADRES, HOUSEHOLDS, PRODUCERS, VILLAGES
from clients.errors import FupinClientError
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import resources_pb2 as pb
from web import maps
from web.launcher import Launcher
from web.link import Link
from web.pages import Console, Ctx, page

DECIDE = ("office", "admin", "platform")
WATCH_WAIT_S = 30.0  # how long the event stream waits for a run the solver has not created yet


def routes(console: Console) -> list[Route]:
    runs = console.runs

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

    return [
        Route("/runs/{id}", page(console, run_page)),
        Route("/runs/{id}/events", page(console, events)),
        Route("/runs/{id}/{verb:str}", page(console, decide, roles=DECIDE), methods=["POST"]),
    ]


def review(ctx: Ctx, run: Any) -> dict[str, Any]:
    """Names and a map for a proposed or committed run's result."""
    if run is None or run.state not in (mpb.PROPOSED, mpb.COMMITTED, mpb.DISCARDED):
        return {"names": {}, "map_svg": ""}
    if run.kind == mpb.PRODUCE:
        return _review_produce(ctx, run)
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


def _review_produce(ctx: Ctx, run: Any) -> dict[str, Any]:
    """Flows producer → buyer, each line as wide as its kilograms; names of both ends (a
    buyer another role may not read keeps its id)."""
    allocations = run.produce.allocations
    producers = {p.id: p for p in ctx.link.registry.list(PRODUCERS, limit=5000)}
    buyers: dict[str, Any] = {}
    for buyer_id in sorted({a.buyer_id for a in allocations if a.buyer_id}):
        try:
            buyers[buyer_id] = ctx.link.registry.get(BUYERS, buyer_id)
        except FupinClientError:
            continue  # not this role's to read: shown by id
    names = {
        p.id: ctx.t("household_producer") if p.kind == pb.PRODUCER_HOUSEHOLD else p.display_name
        for p in producers.values()
    }
    names.update({b.id: b.display_name for b in buyers.values()})
    kg: dict[tuple[str, str], int] = {}
    for a in allocations:
        key = (a.producer_id, a.buyer_id)
        kg[key] = kg.get(key, 0) + a.kg
    drawn = {p for p, b in kg if p in producers and b in buyers}
    points = [
        maps.Point(b.id, b.display_name, b.location.latitude, b.location.longitude, "buyer")
        for b in buyers.values()
    ]
    points += [  # household producers unlabelled: dozens of the same word cover the map
        maps.Point(
            p,
            names[p] if producers[p].kind != pb.PRODUCER_HOUSEHOLD else "",
            producers[p].location.latitude,
            producers[p].location.longitude,
        )
        for p in sorted(drawn)
    ]
    lines = [
        maps.Line(p, b, float(amount), f"{names[p]} → {names[b]}: {amount:,} kg")
        for (p, b), amount in sorted(kg.items())
        if p in producers and b in buyers
    ]
    return {"names": names, "map_svg": maps.svg(points, lines, ctx.t("flows"))}


def _prefix(region: str) -> str:
    return f'county_code = "{region[:6]}"' if len(region) >= 6 and region.isdigit() else ""


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
