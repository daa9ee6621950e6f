"""The checks every call passes, run by the server interceptor (server/interceptor.py):

1. authentication: `authorization: Bearer <key>` in the metadata (UNAUTHENTICATED without a
   valid, unrevoked key; PUBLIC methods such as health checks need none);
2. authorization: the key's role must be allowed by registry/access/policy.py's POLICY
   (PERMISSION_DENIED);
3. the key's rate limit: a token bucket per key (RESOURCE_EXHAUSTED, with the limit named);
4. on the way out, each response is masked for the role and, when it carried household
   records, the read is written to the audit log (registry/access/audit.py): by the registry's
   own AuditWriter, or, in a matcher apart from the registry, through the registry
   (RemoteAudit).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from registry.access import policy as access
from registry.access import redaction as redact
from registry.access.keys import bearer_key
from registry.access.policy import Principal
from registry.access.redaction import Seen
from registry.errors import FupinError, ResourceExhausted


class Metadata(Protocol):
    """What admission reads of a call: a ServicerContext, or its view read on the loop
    (server/dispatch.CallView)."""

    def invocation_metadata(self) -> Any: ...


class RateLimiter:
    """A token bucket per key: `rate_per_s` calls a second on average, bursts of `burst`."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = max(burst, 1)
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, key_id: str) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                raise ResourceExhausted(
                    f"rate limit of this API key exceeded ({self.rate:g} calls/s, "
                    f"bursts of {self.burst}; settings rate_limit_per_s, rate_limit_burst)"
                )
            self._buckets[key_id] = (tokens - 1.0, now)


class Authenticator(Protocol):
    """Who a key belongs to: KeyStore (the database), or RemoteKeys (the registry, asked by a
    matcher that runs apart from it)."""

    def authenticate(self, secret: str) -> Principal: ...

    def known(self, secret: str) -> Principal | None: ...


class AuditLog(Protocol):
    """Where the guard records a response that named households: AuditWriter (the registry's
    database) or RemoteAudit (a matcher apart from it). Raises Unavailable when the event
    cannot be taken, and the response is then withheld (fail closed)."""

    def record(self, principal: Principal, rpc: str, request_id: str, seen: Seen) -> None: ...


class RegistryAudit(Protocol):
    def record_audit(
        self,
        *,
        reader: Principal,
        rpc: str,
        request_id: str,
        household_ids: list[str],
        county_codes: list[str],
    ) -> None: ...


class RemoteAudit:
    """The audit log of a matcher apart from the registry: each event goes to the registry
    (MatcherStoreService.RecordAudit, authenticated as the rest of the internal link, with the
    matcher's admin key) before the response leaves. An aid run's grants, a contracting run's
    households: what the matcher shows names households as much as the registry's reads do."""

    def __init__(self, registry: RegistryAudit) -> None:
        self.registry = registry

    def record(self, principal: Principal, rpc: str, request_id: str, seen: Seen) -> None:
        self.registry.record_audit(
            reader=principal,
            rpc=rpc,
            request_id=request_id,
            household_ids=list(seen.household_ids),
            county_codes=sorted(seen.county_codes),
        )


class Guard:
    def __init__(
        self,
        keys: Authenticator,
        limiter: RateLimiter,
        audit_log: AuditLog | None = None,
    ) -> None:
        self.keys = keys
        self.limiter = limiter
        # Where reads of household records are logged (None only in tests of the guard alone).
        self.audit = audit_log

    def admit(self, method: str, context: Metadata) -> Principal | None:
        """The caller, authenticated, authorized and within its rate; None on PUBLIC methods."""
        if access.is_public(method):
            return None
        principal = self.keys.authenticate(bearer_key(context.invocation_metadata()))
        access.authorize(method, principal)
        self.limiter.take(principal.key_id)
        return principal

    def peek(self, method: str, metadata: Any) -> Principal | None:
        """The caller as far as it is known without a lookup (a key whose answer is cached),
        else None; for an early refusal on the event loop only: `admit` still decides."""
        if access.is_public(method):
            return None
        try:
            return self.keys.known(bearer_key(metadata))
        except FupinError:
            return None

    def release(
        self, principal: Principal | None, method: str, response: Any, request_id: str
    ) -> Any:
        """The response as this caller may see it; reads of households are audited first."""
        if principal is None:
            return response
        seen = redact.Seen()
        redact.process(response, principal.role, seen)
        if seen.household_ids and self.audit is not None:
            self.audit.record(principal, method, request_id, seen)
        return response
