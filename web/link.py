"""The console's way to the services: one gRPC channel per target, calls with the user's token.

Registry resources go through the typed client (clients/client.py); the matcher, ledger,
access, season and report services through their stubs, failures raised as the client's
typed errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc

from clients import auth
from clients.client import RegistryClient, channel_options
from clients.errors import from_rpc_error
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import report_service_pb2_grpc as rpb_grpc
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc
from web.settings import WebSettings


class Channels:
    """The channels, opened once when the console starts."""

    def __init__(self, settings: WebSettings) -> None:
        credentials = auth.tls_credentials()
        self.target = settings.target
        self.timeout_s = settings.timeout_s
        self.registry = auth.open_channel(
            settings.target, credentials=credentials, options=channel_options()
        )
        matcher = settings.matcher_target
        self.matcher = (
            auth.open_channel(matcher, credentials=credentials, options=channel_options())
            if matcher
            else self.registry
        )

    def close(self) -> None:
        self.registry.close()
        if self.matcher is not self.registry:
            self.matcher.close()

    def link(self, token: str, lang: str = "en") -> Link:
        return Link(self, token, lang)


class Link:
    """The services as one signed-in user calls them, in the page's language: the server's
    error texts come back in it too (`accept-language`, server/messages.py)."""

    def __init__(self, channels: Channels, token: str, lang: str = "en") -> None:
        if not token:
            raise ValueError("a link needs the user's session token")
        self.token = token
        self.timeout_s = channels.timeout_s
        language = [("accept-language", lang)]
        self.metadata = auth.key_metadata(token) + language
        self.registry = RegistryClient(
            channels.target,
            channel=channels.registry,
            api_key=token,
            timeout_s=channels.timeout_s,
            metadata=language,
        )
        self._stubs = {
            "registry": api_grpc.RegistryServiceStub(channels.registry),
            "matcher": mpb_grpc.MatcherServiceStub(channels.matcher),
            "ledger": lpb_grpc.LedgerServiceStub(channels.registry),
            "access": apb_grpc.AccessServiceStub(channels.registry),
            "season": spb_grpc.SeasonServiceStub(channels.registry),
            "reports": rpb_grpc.ReportServiceStub(channels.registry),
        }

    def call(self, service: str, method: str, request: Any, timeout_s: float | None = None) -> Any:
        stub = self._stubs[service]
        try:
            return getattr(stub, method)(
                request, timeout=timeout_s or self.timeout_s, metadata=self.metadata
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    def stream(self, service: str, method: str, request: Any, timeout_s: float) -> Any:
        """A server stream (a call object: iterate it; cancel() ends it)."""
        return getattr(self._stubs[service], method)(
            request, timeout=timeout_s, metadata=self.metadata
        )


def anonymous_access(channels: Channels) -> Any:
    """The access stub without a token (SignIn needs none)."""
    return apb_grpc.AccessServiceStub(channels.registry)


def pages(link: Link, method: str, request: Any, field: str, limit: int) -> Iterator[Any]:
    """Items of a paged list RPC of the ledger or access service, up to limit."""
    count = 0
    while True:
        service, name = method.split(".")
        page = link.call(service, name, request)
        for item in getattr(page, field):
            yield item
            count += 1
            if count >= limit:
                return
        if not page.next_page_token:
            return
        request.page_token = page.next_page_token
