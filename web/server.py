"""Running the console: uvicorn on settings.address, HTTPS when a certificate is set, plain
HTTP only on loopback unless `insecure` (as the gRPC server, server/server.py)."""

from __future__ import annotations

import uvicorn

from clients.auth import is_loopback
from web.app import create_app
from web.settings import WebSettings


class InsecureAddress(Exception):
    """Plain HTTP on an address other hosts can reach, without `insecure` set."""


def check_transport(settings: WebSettings) -> None:
    tls = (settings.tls_cert_file, settings.tls_key_file)
    if tls.count(None) == 1:
        raise InsecureAddress("HTTPS needs both tls_cert_file and tls_key_file")
    if tls == (None, None) and not is_loopback(settings.address) and not settings.insecure:
        raise InsecureAddress(
            f"refusing plain HTTP on {settings.address}: set FUPIN_WEB_TLS_CERT_FILE and "
            "FUPIN_WEB_TLS_KEY_FILE, or --insecure if a proxy in front encrypts the traffic"
        )


def build(settings: WebSettings) -> uvicorn.Server:
    """A uvicorn server for the console (not started: call run(), or serve() in a thread)."""
    check_transport(settings)
    host, port = settings.address.rsplit(":", 1)
    config = uvicorn.Config(
        create_app(settings),
        host=host.strip("[]"),
        port=int(port),
        ssl_certfile=str(settings.tls_cert_file) if settings.tls_cert_file else None,
        ssl_keyfile=str(settings.tls_key_file) if settings.tls_key_file else None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def serve(settings: WebSettings) -> int:
    build(settings).run()
    return 0
