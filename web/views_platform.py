"""A platform's pages: its orders, a what-if match on them (a produce run on its own orders,
watched and reviewed with its flows on web/runs.py's pages, then committed or discarded), and
quick sourcing for one order with the lanes drawn."""

from __future__ import annotations

import datetime as dt
import uuid

from starlette.responses import Response
from starlette.routing import Route

from clients.client import BUYERS, LISTINGS, ORDERS, PRODUCERS
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from web import maps
from web.pages import Console, Ctx, page

PLATFORM = ("platform",)


def routes(console: Console) -> list[Route]:
    def orders(ctx: Ctx) -> Response:
        rows = list(
            ctx.link.registry.list(ORDERS, filter=f'buyer_id = "{ctx.session.scope}"', limit=500)
        )
        products = sorted({o.product for o in rows})
        today = dt.date.today().isoformat()
        return ctx.render("orders.html", orders=rows, products=products, today=today)

    def what_if(ctx: Ctx) -> Response:
        """MatchProduce on a registry selection: the matcher matches a platform's own orders
        only. The run is proposed, not committed: the run's page shows the flows."""
        limit = min(max(float(ctx.arg("time_limit") or 10), 1.0), 120.0)
        today = ctx.arg("today") or dt.date.today().isoformat()
        run_id = f"web-{uuid.uuid4().hex[:20]}"
        request = mpb.MatchProduceRequest(
            selection=mpb.RegistrySelection(product=ctx.arg("product"), today=today),
            parameters=mpb.SolveParameters(time_limit_s=limit),
            run_id=run_id,
            request_id=run_id,
        )
        console.runs.start(ctx.link, "MatchProduce", request, timeout_s=limit + 60)
        return ctx.redirect(f"/runs/{run_id}")

    def quick_source(ctx: Ctx) -> Response:
        order = ctx.link.registry.get(ORDERS, ctx.request.path_params["id"])
        buyer = ctx.link.registry.get(BUYERS, order.buyer_id)
        today = ctx.arg("today") or dt.date.today().isoformat()
        inline = mpb.InlineOrder(
            id=order.id,
            product=order.product,
            accepted_grades=order.accepted_grades,
            min_quantity_kg=order.min_quantity_kg,
            max_quantity_kg=order.max_quantity_kg - order.filled_kg,
            price_fen=order.price_fen,
            location=buyer.location,
            deliver_by=order.deliver_by,
            max_distance_km=order.max_distance_km,
        )
        found = ctx.link.call(
            "matcher",
            "QuickSource",
            mpb.QuickSourceRequest(order=inline, today=today, max_results=20),
        )
        producers = {
            c.producer_id: ctx.link.registry.get(PRODUCERS, c.producer_id) for c in found.candidates
        }
        points = [
            maps.Point(
                buyer.id,
                buyer.display_name,
                buyer.location.latitude,
                buyer.location.longitude,
                "buyer",
            )
        ]
        points += [
            maps.Point(p.id, p.display_name, p.location.latitude, p.location.longitude)
            for p in producers.values()
        ]
        lines = [
            maps.Line(c.producer_id, buyer.id, float(c.suggested_kg), f"{c.suggested_kg:,} kg")
            for c in found.candidates
            if c.suggested_kg
        ]
        names = {p.id: p.display_name for p in producers.values()}
        grades = {
            c.listing_id: ctx.link.registry.get(LISTINGS, c.listing_id).grade
            for c in found.candidates[:20]
        }
        return ctx.render(
            "quick_source.html",
            order=order,
            candidates=found.candidates,
            names=names,
            grades=grades,
            today=today,
            map_svg=maps.svg(points, lines, ctx.t("flows")),
        )

    return [
        Route("/platform/orders", page(console, orders, roles=PLATFORM)),
        Route("/platform/orders/{id}/source", page(console, quick_source, roles=PLATFORM)),
        Route("/platform/what-if", page(console, what_if, roles=PLATFORM), methods=["POST"]),
    ]
