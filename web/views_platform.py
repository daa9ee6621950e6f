"""A platform's pages: its orders, and quick sourcing for one order with the lanes drawn."""

from __future__ import annotations

import datetime as dt

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
        return ctx.render("orders.html", orders=rows)

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
    ]
