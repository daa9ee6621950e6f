"""A cooperative's pages: its listings, a form to add or edit one (with the server's field
violations shown beside the fields they name), and the outcome of a produce run for each of its
listings: sold to whom, at what price, picked up when — or why not, and the floor price at which
it would have sold (the matcher shows a cooperative its own listings only); and the season's
statement (GetProducerStatement): listed, sold to each buyer, received, rejected and why, paid,
outstanding, and what it paid each member (as the server masks them), with its chart."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from clients.client import BUYERS, LISTINGS
from clients.errors import InvalidArgumentError
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import resources_pb2 as pb
from fupin.registry.v1 import season_service_pb2 as spb
from web import charts
from web.pages import Console, Ctx, page

COOP = ("cooperative",)
FIELDS = (
    ("product", "text"),
    ("grade", "text"),
    ("quantity_kg", "number"),
    ("floor_price", "number"),
    ("available_from", "date"),
    ("available_until", "date"),
    ("shelf_life_days", "number"),
)
# What the server names (listing.floor_price_fen) -> the form's field (floor_price).
SERVER_FIELDS = {"floor_price_fen": "floor_price"}


def routes(console: Console) -> list[Route]:
    def listings(ctx: Ctx) -> Response:
        rows = list(
            ctx.link.registry.list(
                LISTINGS, filter=f'producer_id = "{ctx.session.scope}"', limit=500
            )
        )
        return ctx.render("listings.html", listings=rows)

    def outcomes(ctx: Ctx) -> Response:
        run_id = ctx.arg("run")
        if not run_id:
            newest = ctx.link.call(
                "matcher",
                "ListMatchRuns",
                mpb.ListMatchRunsRequest(
                    page_size=1, filter="kind = PRODUCE AND state = COMMITTED"
                ),
            )
            if not newest.runs:
                return ctx.render("outcomes.html", run=None, sold=[], unsold=[], listings={})
            run_id = newest.runs[0].id
        run = ctx.link.call("matcher", "GetMatchRun", mpb.GetMatchRunRequest(id=run_id))
        if run.kind != mpb.PRODUCE:
            return ctx.render("message.html", status_code=404, message=ctx.t("not_found"))
        mine = {
            x.id: x
            for x in ctx.link.registry.list(
                LISTINGS, filter=f'producer_id = "{ctx.session.scope}"', limit=1000
            )
        }
        buyers = {
            b: ctx.link.registry.get(BUYERS, b).display_name
            for b in sorted({a.buyer_id for a in run.produce.allocations if a.buyer_id})
        }
        return ctx.render(
            "outcomes.html",
            run=run,
            sold=[a for a in run.produce.allocations if a.listing_id in mine],
            unsold=[u for u in run.produce.unsold if u.listing_id in mine],
            listings=mine,
            buyers=buyers,
            mpb=mpb,
        )

    def statement(ctx: Ctx) -> Response:
        year = ctx.arg("year")
        if year and not year.isdigit():
            return ctx.render("message.html", status_code=400, message=ctx.t("bad_year"))
        got = ctx.link.call(
            "season",
            "GetProducerStatement",
            spb.GetProducerStatementRequest(producer_id=ctx.session.scope, year=int(year or 0)),
        )
        return ctx.render(
            "statement.html", s=got, year=year, spb=spb, charts=season_charts(ctx, got)
        )

    def form(ctx: Ctx) -> Response:
        listing_id = ctx.request.path_params.get("id", "")
        values = {"product": "green_plum", "grade": "A", "shelf_life_days": "7"}
        etag = ""
        if listing_id:
            listing = ctx.link.registry.get(LISTINGS, listing_id)
            values = _values(listing)
            etag = listing.etag
        return ctx.render(
            "listing_form.html",
            listing_id=listing_id,
            values=values,
            errors={},
            etag=etag,
            fields=FIELDS,
        )

    def save(ctx: Ctx) -> Response:
        listing_id = ctx.request.path_params.get("id", "")
        values = {name: ctx.arg(name) for name, _ in FIELDS}
        errors: dict[str, str] = {}
        listing = pb.Listing(
            id=listing_id,
            producer_id=ctx.session.scope,
            product=values["product"],
            grade=values["grade"],
            available_from=values["available_from"],
            available_until=values["available_until"],
            etag=ctx.arg("etag"),
        )
        for name, scale in (("quantity_kg", 1), ("floor_price", 100), ("shelf_life_days", 1)):
            try:
                number = round(float(values[name] or 0) * scale)
            except ValueError:
                errors[name] = ctx.t("fix_fields")
                continue
            setattr(listing, "floor_price_fen" if name == "floor_price" else name, number)
        if not errors:
            try:
                if listing_id:
                    paths = [
                        "product",
                        "grade",
                        "quantity_kg",
                        "floor_price_fen",
                        "available_from",
                        "available_until",
                        "shelf_life_days",
                    ]
                    ctx.link.registry.update(LISTINGS, listing, paths)
                else:
                    ctx.link.registry.create(LISTINGS, listing)
                return ctx.redirect("/coop/listings", "saved")
            except InvalidArgumentError as error:
                for path, description in error.localized_violations:  # page language
                    name = path.split(".")[-1]
                    errors[SERVER_FIELDS.get(name, name)] = description
        return ctx.render(
            "listing_form.html",
            status_code=422,
            listing_id=listing_id,
            values=values,
            errors=errors,
            etag=ctx.arg("etag"),
            fields=FIELDS,
        )

    return [
        Route("/coop/listings", page(console, listings, roles=COOP)),
        Route("/coop/outcomes", page(console, outcomes, roles=COOP)),
        Route("/coop/statement", page(console, statement, roles=COOP)),
        Route("/coop/listings/new", page(console, form, roles=COOP), methods=["GET"]),
        Route("/coop/listings/new", page(console, save, roles=COOP), methods=["POST"]),
        Route("/coop/listings/{id}", page(console, form, roles=COOP), methods=["GET"]),
        Route("/coop/listings/{id}", page(console, save, roles=COOP), methods=["POST"]),
    ]


def _values(listing: pb.Listing) -> dict[str, str]:
    return {
        "product": listing.product,
        "grade": listing.grade,
        "quantity_kg": str(listing.quantity_kg),
        "floor_price": f"{listing.floor_price_fen / 100:.2f}",
        "available_from": listing.available_from,
        "available_until": listing.available_until,
        "shelf_life_days": str(listing.shelf_life_days),
    }


def season_charts(ctx: Ctx, s: spb.ProducerStatement) -> list[str]:
    """The season in two charts: its kilograms (listed → sold → received, rejected) and its
    yuan (sold, owed, paid, outstanding, paid on to members)."""
    t = ctx.t
    kg = [
        ("listed_kg", s.listed_kg, "bar"),
        ("sold_kg", s.sold_kg, "bar"),
        ("received_kg", s.received_kg, "good"),
        ("rejected_kg", s.rejected_kg, "bad"),
    ]
    fen = [
        ("sold_fen", s.sold_fen, "bar"),
        ("owed_fen", s.owed_fen, "owed"),
        ("paid_fen", s.paid_fen, "good"),
        ("outstanding_fen", s.outstanding_fen, "bad"),
        ("dividends_fen", s.dividends_fen, "good"),
    ]
    return [
        charts.bars(
            [charts.Bar(k, t(k), v, f"{v:,} kg", kind) for k, v, kind in kg], t("season_kg")
        ),
        charts.bars(
            [charts.Bar(k, t(k), v, f"¥{v / 100:,.2f}", kind) for k, v, kind in fen],
            t("season_yuan"),
        ),
    ]
