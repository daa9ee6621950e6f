"""What every page shares: the console (settings, channels, templates), the request context,
and `page`, which loads the session cookie, checks the CSRF token of every POST and the user's
role, runs the page function on a worker thread (gRPC calls block) and turns the services'
refusals into pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from clients.errors import (
    FupinClientError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)
from web import i18n
from web.launcher import Launcher
from web.link import Channels, Link
from web.session import Cookies, Session, secret_key
from web.settings import WebSettings
from web.throttle import SignInThrottle

HERE = Path(__file__).resolve().parent
HOME = {
    "office": "/office/households",
    "admin": "/office/households",
    "cooperative": "/coop/listings",
    "platform": "/platform/orders",
    "auditor": "/auditor/ledger",
}
Handler = Callable[["Ctx"], Response]


class Console:
    """What every page shares: settings, channels, cookie signer, templates."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.channels = Channels(settings)
        secure = settings.tls_cert_file is not None
        self.cookies = Cookies(secret_key(settings.secret_key_file), secure=secure)
        self.runs = Launcher()  # runs started from pages, watched on their own page
        self.sign_ins = SignInThrottle(
            settings.sign_in_failures_per_address, settings.sign_in_window_s
        )
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
        )
        self.templates.filters["yuan"] = lambda fen: f"{fen / 100:,.2f}"
        self.templates.filters["kg"] = lambda kg: f"{kg:,}"


@dataclass
class Ctx:
    request: Request
    session: Session
    form: FormData
    console: Console
    lang: str
    t: i18n.Translate

    @property
    def link(self) -> Link:
        return self.console.channels.link(self.session.token, self.lang)

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        flash, self.session.flash = self.session.flash, ""
        html = self.console.templates.get_template(template).render(
            t=self.t,
            lang=self.lang,
            session=self.session,
            flash=self.t(flash) if flash else "",
            path=self.request.url.path,
            **values,
        )
        response = HTMLResponse(html, status_code=status_code)
        self.console.cookies.save(response, self.session)
        return response

    def redirect(self, url: str, flash: str = "") -> Response:
        if flash:
            self.session.flash = flash
        response = RedirectResponse(url, status_code=303)
        self.console.cookies.save(response, self.session)
        return response

    def arg(self, name: str, default: str = "") -> str:
        value = self.form.get(name)
        if value is None:
            value = self.request.query_params.get(name, default)
        return str(value).strip()


def page(
    console: Console, handler: Handler, *, roles: tuple[str, ...] = (), public: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of one page: session, CSRF on POST, sign-in and role, then the handler."""

    async def endpoint(request: Request) -> Response:
        session = console.cookies.load(request)
        form = await request.form() if request.method == "POST" else FormData()
        lang = i18n.choose(
            session.lang, session.account_lang, request.headers.get("accept-language", "")
        )
        ctx = Ctx(request, session, form, console, lang, i18n.translator(lang))
        if request.method == "POST":
            presented = form.get("csrf") or request.headers.get("x-csrf-token")
            if not session.csrf_ok(str(presented) if presented else None):
                return ctx.render("message.html", status_code=403, message=ctx.t("csrf"))
        if not public and not session.signed_in:
            return ctx.redirect("/sign-in")
        if roles and session.role not in roles:
            return ctx.render("message.html", status_code=403, message=ctx.t("denied"))
        try:
            return await run_in_threadpool(handler, ctx)
        except UnauthenticatedError:
            session.token = ""
            return ctx.redirect("/sign-in", "session_over")
        except PermissionDeniedError as error:
            said = error.localized_message  # the server's text in the page's language
            denied = ctx.t("denied")
            return ctx.render("message.html", status_code=403, message=f"{denied} ({said})")
        except NotFoundError:
            return ctx.render("message.html", status_code=404, message=ctx.t("not_found"))
        except UnavailableError:
            return ctx.render("message.html", status_code=503, message=ctx.t("unavailable"))
        except FupinClientError as error:
            said = error.localized_message
            return ctx.render("message.html", status_code=400, message=f"{ctx.t('error')}: {said}")

    return endpoint
