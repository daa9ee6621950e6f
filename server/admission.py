"""Bounded calls in flight, so no caller can starve the server.

Two kinds of call are counted apart (server/loop.py):

- *calls*, whose handler runs on one of the `max_workers` threads until it answers (almost
  every RPC): at most `max_calls_per_key` per key and `max_calls` in all, which is fewer than
  the threads, so the threads left over always serve admins;
- *waits*: streams and calls that wait for something (Health/Watch, WatchMatchRun,
  WatchAlerts, MatchProduce and the other RPCs that answer once their run has ended). They
  wait on the event loop and hold no thread: at most `max_streams_per_key` per key and
  `max_streams` in all.

Callers without a key (the PUBLIC methods: Health/Watch, reflection) are counted per peer
address (IP, not port: one client's many connections are one count), under the same bounds
as a key, so that one keyless client cannot use up what the others need; behind a proxy its
address is the proxy's, and they share one count again. Health/Check (answered on the loop,
never on a thread) and admins' calls are never refused. Beyond a bound a call ends at once with
RESOURCE_EXHAUSTED and a RetryInfo detail; it never queues for a thread. A call on a thread
whose key is cached and already at its bounds is refused on the event loop (`check`, from
server/interceptor.py), so that not even its refusal takes a thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from registry.access.policy import Principal, Role
from registry.errors import Overloaded

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
ANONYMOUS = "peer:"  # + the peer's address: the count of the callers without a key there


@dataclass(frozen=True)
class Bounds:
    calls_per_key: int
    calls: int
    streams_per_key: int
    streams: int


@dataclass(frozen=True)
class Ticket:
    """An admitted call: what to give back when it ends."""

    key: str
    waits: bool


class _Counts:
    def __init__(self, per_key: int, total: int, setting: str, what: str) -> None:
        self.per_key, self.total = per_key, total
        self.setting, self.what = setting, what
        self.by_key: dict[str, int] = {}
        self.all = 0

    def take(self, key: str) -> None:
        held = self.by_key.get(key, 0)
        if held >= self.per_key and key.startswith(ANONYMOUS):
            raise Overloaded(
                f"this address has {held} {self.what} in flight without a key, the most it may "
                f"(setting {self.setting}_per_key); retry when one has ended"
            )
        if held >= self.per_key:
            raise Overloaded(
                f"this key has {held} {self.what} in flight, the most it may (setting "
                f"{self.setting}_per_key); retry when one has ended"
            )
        if self.all >= self.total:
            raise Overloaded(
                f"the server is at its limit of {self.total} {self.what} in flight (setting "
                f"{self.setting}); retry shortly"
            )
        self.by_key[key] = held + 1
        self.all += 1

    def give_back(self, key: str) -> None:
        self.all -= 1
        left = self.by_key[key] - 1
        if left:
            self.by_key[key] = left
        else:
            del self.by_key[key]


class Admission:
    """Counts calls and waits in flight per key and in all; `enter` admits or refuses, `leave`
    ends. Called from the calls' threads and from the event loop alike."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self._lock = threading.Lock()
        self._calls = _Counts(bounds.calls_per_key, bounds.calls, "max_calls", "calls")
        self._waits = _Counts(bounds.streams_per_key, bounds.streams, "max_streams", "streams")

    def enter(
        self, method: str, principal: Principal | None, *, waits: bool, peer: str = ""
    ) -> Ticket | None:
        """Admit the call (the ticket to `leave` with), None for a priority call (nothing to
        leave), or raise Overloaded. `waits`: a stream or waiting call (module doc); `peer`:
        the caller's address as gRPC gives it (`ipv4:127.0.0.1:50123`)."""
        if method == HEALTH_CHECK or (principal is not None and principal.role is Role.ADMIN):
            return None
        key = principal.key_id if principal is not None else ANONYMOUS + peer_host(peer)
        with self._lock:
            (self._waits if waits else self._calls).take(key)
        return Ticket(key, waits)

    def check(self, method: str, principal: Principal, *, waits: bool) -> None:
        """Raise Overloaded if `enter` would refuse this call now; take nothing. Lets a call
        beyond its key's bounds be refused on the event loop, before it takes a thread."""
        if method == HEALTH_CHECK or principal.role is Role.ADMIN:
            return
        counts = self._waits if waits else self._calls
        with self._lock:
            counts.take(principal.key_id)
            counts.give_back(principal.key_id)

    def leave(self, ticket: Ticket | None) -> None:
        if ticket is None:
            return
        with self._lock:
            (self._waits if ticket.waits else self._calls).give_back(ticket.key)

    def in_flight(self) -> tuple[int, int]:
        """(calls, waits) in flight now."""
        with self._lock:
            return self._calls.all, self._waits.all


def peer_host(peer: str) -> str:
    """The address of a gRPC peer without its port: `ipv4:10.0.0.7:50123` -> `ipv4:10.0.0.7`,
    `ipv6:[::1]:50123` -> `ipv6:[::1]`; other forms (unix sockets) as they are."""
    scheme, _, rest = peer.partition(":")
    if scheme not in ("ipv4", "ipv6") or ":" not in rest:
        return peer
    return f"{scheme}:{rest.rsplit(':', 1)[0]}"
