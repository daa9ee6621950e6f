"""The console's application: its routes and its lifetime.

Pages are plain functions wrapped by `web/pages.py`'s `page`. Routes: web/views_auth.py
(sign-in, language), views_office.py, runs.py (a run's pages, whoever started it),
views_coop.py, views_platform.py, views_auditor.py, views_reports.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from web import (
    runs,
    views_auditor,
    views_auth,
    views_coop,
    views_office,
    views_platform,
    views_reports,
)
from web.pages import HERE, Console
from web.settings import WebSettings


def create_app(settings: WebSettings) -> Starlette:
    console = Console(settings)
    routes: list[Route | Mount] = [
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    ]
    for module in (
        views_auth,
        views_office,
        runs,
        views_coop,
        views_platform,
        views_auditor,
        views_reports,
    ):
        routes += module.routes(console)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        console.channels.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.console = console
    return app
