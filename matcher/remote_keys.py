"""API keys checked by the registry, for a matcher that runs apart from it (no database).

Each caller's key is sent to the registry's AccessService.WhoAmI once; the answer (the key's id,
role and scope, or "unknown") is cached for CACHE_S, as the registry caches its own lookups, so a
revoked key stops working here within that time.
"""

from __future__ import annotations

import threading
import time

import grpc

from clients import auth
from clients.client import channel_options
from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc
from registry.access import Principal, Role
from registry.errors import Unauthenticated, Unavailable
from registry.keys import CACHE_S, SECRET

MAX_CACHED = 10_000


class RemoteKeys:
    """registry/guard.py's Authenticator over the registry's gRPC API."""

    def __init__(self, target: str, *, timeout_s: float = 10.0) -> None:
        self._channel = grpc.insecure_channel(target, options=channel_options())
        self._stub = apb_grpc.AccessServiceStub(self._channel)
        self._timeout_s = timeout_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def authenticate(self, secret: str) -> Principal:
        if not SECRET.fullmatch(secret):
            raise Unauthenticated("the API key is malformed")
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(secret)
        if cached is not None and now - cached[0] < CACHE_S:
            principal = cached[1]
        else:
            principal = self._ask(secret)
            with self._lock:
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
                self._cache[secret] = (now, principal)
        if principal is None:
            raise Unauthenticated("the API key is unknown or revoked")
        return principal

    def _ask(self, secret: str) -> Principal | None:
        try:
            key = self._stub.WhoAmI(
                apb.WhoAmIRequest(),
                timeout=self._timeout_s,
                metadata=tuple(auth.key_metadata(secret)),
            )
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAUTHENTICATED:
                return None
            raise Unavailable("the registry cannot check API keys now; retry later") from error
        return Principal(key.id, Role(apb.Role.Name(key.role).lower()), key.scope)

    def close(self) -> None:
        self._channel.close()
