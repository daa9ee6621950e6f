"""`fupin web`: serve the web console (web/), a client of the gRPC server at --target.

    fupin web [--address HOST:PORT] [--target HOST:PORT] [--matcher-target HOST:PORT] [--insecure]

Settings also from the environment (FUPIN_WEB_*: web/settings.py); TLS towards the gRPC server
from $FUPIN_TLS_CA_FILE as for every client.
"""

from __future__ import annotations

import argparse
from typing import Any

from clients.errors import UsageError
from clients.i18n import _


def add_command(commands: Any) -> None:
    web = commands.add_parser("web", help=_("serve the web console (default 127.0.0.1:8080)"))
    web.add_argument("--address", help=_("HOST:PORT to listen on (default 127.0.0.1:8080)"))
    web.add_argument("--target", help=_("the gRPC server's HOST:PORT (default 127.0.0.1:50051)"))
    web.add_argument("--matcher-target", help=_("the matcher's HOST:PORT, if not --target's"))
    web.add_argument(
        "--insecure", action="store_true", default=None, help=_("allow plain HTTP off loopback")
    )
    web.set_defaults(run=run_web)


def run_web(args: argparse.Namespace) -> int:
    import pydantic

    from server import logs
    from web import server
    from web.settings import WebSettings

    given = {
        "address": args.address,
        "target": args.target,
        "matcher_target": args.matcher_target,
        "insecure": args.insecure,
    }
    try:
        settings = WebSettings(**{k: v for k, v in given.items() if v is not None})
    except pydantic.ValidationError as exc:
        raise UsageError(_("bad settings: {error}").format(error=exc)) from exc
    logs.configure("auto", "info")
    try:
        return server.serve(settings)
    except server.InsecureAddress as exc:
        raise UsageError(str(exc)) from exc
