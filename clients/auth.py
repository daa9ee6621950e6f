"""Client side of access control: which API key to send, and channels that send it.

The server is the target given, else $FUPIN_TARGET, else 127.0.0.1:50051.
The key is, in order: the one given in code, $FUPIN_API_KEY, the file named by
$FUPIN_API_KEY_FILE, or var/admin.key (what `fupin serve` writes at first start) when it exists.
TLS: $FUPIN_TLS_CA_FILE (the server's CA), and for mutual TLS $FUPIN_TLS_CERT_FILE and
$FUPIN_TLS_KEY_FILE (this client's certificate and key).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc

from clients import i18n

T = TypeVar("T")

DEFAULT_KEY_FILE = Path("var/admin.key")
Call = Callable[..., Any]


DEFAULT_TARGET = "127.0.0.1:50051"


def resolve_target(explicit: str | None = None) -> str:
    """The server to call: the one given, else $FUPIN_TARGET, else 127.0.0.1:50051."""
    return explicit or os.environ.get("FUPIN_TARGET") or DEFAULT_TARGET


def resolve_key(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    if os.environ.get("FUPIN_API_KEY"):
        return os.environ["FUPIN_API_KEY"]
    named = os.environ.get("FUPIN_API_KEY_FILE")
    path = Path(named) if named else DEFAULT_KEY_FILE
    if path.is_file():
        return path.read_text().strip() or None
    return None


def key_metadata(api_key: str | None) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {api_key}")] if api_key else []


def language_metadata(language: str | None = None) -> list[tuple[str, str]]:
    """`accept-language` for the language people read (clients/i18n.py's, unless given): the
    server then sends its errors' descriptions in it too (server/messages.py)."""
    chosen = language or i18n.language()
    return [("accept-language", "zh-CN" if chosen == "zh_CN" else "en")]


def tls_credentials(
    ca_file: Path | None = None, cert_file: Path | None = None, key_file: Path | None = None
) -> grpc.ChannelCredentials | None:
    """Credentials from the files given, else from $FUPIN_TLS_*; None for plaintext."""
    env = os.environ.get
    ca = ca_file or _path(env("FUPIN_TLS_CA_FILE"))
    cert = cert_file or _path(env("FUPIN_TLS_CERT_FILE"))
    key = key_file or _path(env("FUPIN_TLS_KEY_FILE"))
    if ca is None and cert is None:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes() if ca else None,
        private_key=key.read_bytes() if key and cert else None,
        certificate_chain=cert.read_bytes() if cert and key else None,
    )


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def open_channel(
    target: str,
    *,
    api_key: str | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    options: list[tuple[str, Any]] | None = None,
) -> grpc.Channel:
    """A channel to target (TLS when credentials are given) whose calls all carry the key and
    the language of clients/i18n.py."""
    if credentials is not None:
        channel = grpc.secure_channel(target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    metadata = key_metadata(api_key) + language_metadata()
    return grpc.intercept_channel(channel, KeyInterceptor(metadata))


def client_channel(target: str, options: list[tuple[str, Any]] | None = None) -> grpc.Channel:
    """The CLI's channel: the key and TLS settings found by resolve_key() and tls_credentials()."""
    return open_channel(
        target, api_key=resolve_key(), credentials=tls_credentials(), options=options
    )


@contextmanager
def client_stub(target: str, stub_class: Callable[[grpc.Channel], T]) -> Iterator[T]:
    """A service stub on the CLI's channel; gRPC errors leave as the client's typed errors
    (clients/errors.py), with their field violations."""
    from clients.errors import from_rpc_error

    with client_channel(target) as channel:
        try:
            yield stub_class(channel)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None


class KeyInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds the authorization metadata to every call."""

    def __init__(self, metadata: list[tuple[str, str]]) -> None:
        self.metadata = metadata

    def _details(self, details: Any) -> Any:
        metadata = [*(details.metadata or ()), *self.metadata]
        return _Details(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return continuation(self._details(details), requests)


class _Details(grpc.ClientCallDetails):
    def __init__(
        self,
        method: str,
        timeout: float | None,
        metadata: list[tuple[str, str]],
        credentials: Any,
        wait_for_ready: bool | None,
        compression: Any,
    ) -> None:
        self.method = method
        self.timeout = timeout
        self.metadata = metadata  # type: ignore[assignment]
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def is_loopback(address: str) -> bool:
    """Whether a HOST:PORT (or unix:) address is reachable from this machine only, where the
    server and the console may serve plaintext."""
    if address.startswith("unix:"):
        return True
    host = address.rsplit(":", 1)[0].strip("[]")
    try:  # IP literals only: a name (even "127.0.0.1.evil.example") resolves to anything
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
