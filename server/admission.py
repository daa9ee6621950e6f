"""Bounded calls in flight, so no caller can starve the server.

The gRPC server runs each call on one of `max_workers` threads, and a stream or a caller
waiting for a run holds its thread until it ends: 16 open Health/Watch streams without a key,
or 16 MatchProduce calls from one key, took every thread, and Health/Check and an admin's
calls waited until the callers' deadlines expired. A call is admitted, once its caller is
known, only while

- its key has fewer than `per_key` calls in flight (callers without a key share one count);
- ordinary calls in flight are fewer than `max_workers - reserved`: the last `reserved`
  threads serve only Health/Check and admins' calls, which are never refused here.

Beyond them the call ends at once with RESOURCE_EXHAUSTED and a RetryInfo detail, freeing its
thread; it never waits for one.
"""

from __future__ import annotations

import threading

from registry.access.policy import Principal, Role
from registry.errors import Overloaded

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
ANONYMOUS = ""  # the count shared by callers without a key


class Admission:
    """Counts calls in flight per key and in all; `enter` admits or refuses, `leave` ends."""

    def __init__(self, max_workers: int, per_key: int, reserved: int) -> None:
        self.ordinary = max(1, max_workers - reserved)
        self.per_key = per_key
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._total = 0

    def enter(self, method: str, principal: Principal | None) -> str | None:
        """Admit the call (the key to `leave` with), None for a priority call (nothing to
        leave), or raise Overloaded."""
        if method == HEALTH_CHECK or (principal is not None and principal.role is Role.ADMIN):
            return None
        key = principal.key_id if principal is not None else ANONYMOUS
        with self._lock:
            held = self._in_flight.get(key, 0)
            if held >= self.per_key:
                raise Overloaded(
                    f"this key has {held} calls in flight, the most it may "
                    f"(setting max_calls_per_key); retry when one has ended"
                )
            if self._total >= self.ordinary:
                raise Overloaded("the server is at its limit of calls in flight; retry shortly")
            self._in_flight[key] = held + 1
            self._total += 1
        return key

    def leave(self, key: str | None) -> None:
        if key is None:
            return
        with self._lock:
            self._total -= 1
            left = self._in_flight[key] - 1
            if left:
                self._in_flight[key] = left
            else:
                del self._in_flight[key]
