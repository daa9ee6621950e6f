"""An auditor's pages beyond the ledger (web/views_office.py): the audit log."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from fupin.registry.v1 import access_service_pb2 as apb
from web.link import pages
from web.pages import Console, Ctx, page


def routes(console: Console) -> list[Route]:
    def audit(ctx: Ctx) -> Response:
        request = apb.ListAuditEventsRequest(page_size=200, filter=ctx.arg("filter"))
        events = list(pages(ctx.link, "access.ListAuditEvents", request, "events", 500))
        return ctx.render("audit.html", events=events[::-1], filter=ctx.arg("filter"), apb=apb)

    return [Route("/auditor/audit", page(console, audit, roles=("auditor", "admin")))]
