"""API keys checked by the registry, for a matcher that runs apart from it (no database).

Each caller's key is sent to the registry's AccessService.WhoAmI once; the answer (the key's id,
role and scope, or "unknown") is cached for CACHE_S by the key's hash (registry/access/keys.py's
CachedKeys, as the registry caches its own lookups), so a revoked key stops working here within
that time.
"""

from __future__ import annotations

import grpc

from clients import auth
from clients.client import channel_options
from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc
from registry.access.keys import CachedKeys
from registry.access.policy import Principal, Role
from registry.errors import Unavailable


class RemoteKeys(CachedKeys):
    """server/guard.py's Authenticator over the registry's gRPC API."""

    def __init__(self, target: str, *, timeout_s: float = 10.0) -> None:
        super().__init__()
        self._channel = grpc.insecure_channel(target, options=channel_options())
        self._stub = apb_grpc.AccessServiceStub(self._channel)
        self._timeout_s = timeout_s

    def _lookup(self, secret: str, key_hash: str) -> Principal | None:
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
