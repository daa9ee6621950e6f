"""Sign-in, sign-out, the language switch and the home page of each role."""

from __future__ import annotations

import secrets

import grpc
import structlog
from starlette.responses import Response
from starlette.routing import Route

from clients.errors import from_rpc_error
from fupin.registry.v1 import access_service_pb2 as apb
from web import i18n
from web.link import anonymous_access
from web.pages import HOME, Console, Ctx, page

log = structlog.get_logger("fupin.web")


def routes(console: Console) -> list[Route]:
    def sign_in_form(ctx: Ctx) -> Response:
        if ctx.session.signed_in:
            return ctx.redirect(HOME.get(ctx.session.role, "/"))
        return ctx.render("sign_in.html", error="", username="")

    def sign_in(ctx: Ctx) -> Response:
        username, password = ctx.arg("username"), str(ctx.form.get("password") or "")
        address = ctx.request.client.host if ctx.request.client else ""
        wait_s = console.sign_ins.retry_after_s(address)
        if wait_s:
            log.warning("sign_in_throttled", address=address, retry_after_s=wait_s)
            response = ctx.render(
                "sign_in.html",
                status_code=429,
                error=ctx.t("too_many_sign_ins", minutes=-(-wait_s // 60)),
                username=username,
            )
            response.headers["Retry-After"] = str(wait_s)
            return response
        request = apb.SignInRequest(username=username, password=password)
        try:
            signed = anonymous_access(console.channels).SignIn(
                request, timeout=console.settings.timeout_s
            )
        except grpc.RpcError as error:
            failure = from_rpc_error(error)
            locked = failure.code == grpc.StatusCode.PERMISSION_DENIED
            if failure.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
                console.sign_ins.failed(address)
            message = ctx.t("locked") if locked else ctx.t("bad_sign_in")
            if failure.code not in (
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.UNAUTHENTICATED,
            ):
                message = f"{ctx.t('error')}: {failure.localized_message}"
            return ctx.render("sign_in.html", status_code=401, error=message, username=username)
        user = signed.user
        session = ctx.session
        session.token, session.user_id, session.username = signed.token, user.id, user.username
        session.name = user.display_name or user.username
        session.role = apb.Role.Name(user.role).lower()
        session.scope, session.account_lang = user.scope, user.language
        session.csrf = secrets.token_urlsafe(24)  # a token seen before sign-in is void
        return ctx.redirect(HOME.get(session.role, "/"))

    def sign_out(ctx: Ctx) -> Response:
        try:
            ctx.link.call("access", "SignOut", apb.SignOutRequest())
        finally:
            lang = ctx.session.lang
            ctx.session.__init__()  # type: ignore[misc]
            ctx.session.lang = lang
        return ctx.redirect("/sign-in", "signed_out")

    def language(ctx: Ctx) -> Response:
        chosen = ctx.request.path_params["code"]
        if chosen in i18n.LANGUAGES:
            ctx.session.lang = chosen
        back = ctx.request.query_params.get("next", "/")
        return ctx.redirect(back if back.startswith("/") and not back.startswith("//") else "/")

    def home(ctx: Ctx) -> Response:
        return ctx.redirect(HOME.get(ctx.session.role, "/sign-in"))

    return [
        Route("/", page(console, home)),
        Route("/sign-in", page(console, sign_in_form, public=True), methods=["GET"]),
        Route("/sign-in", page(console, sign_in, public=True), methods=["POST"]),
        Route("/sign-out", page(console, sign_out), methods=["POST"]),
        Route("/lang/{code}", page(console, language, public=True)),
    ]
