"""A cooperative's pages: its listings, and a form to add or edit one, with the server's field
violations shown beside the fields they name."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from clients.client import LISTINGS
from clients.errors import InvalidArgumentError
from fupin.registry.v1 import resources_pb2 as pb
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
