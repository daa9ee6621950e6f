"""bench/fuzz.py's calls: the services and methods under test, a caller that sends raw request
bytes to any method as any role with a few requests in flight, and the tally of the answers."""

from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2

from bench.common import say
from fupin.matcher.v1 import matcher_service_pb2
from fupin.registry.v1 import (
    access_service_pb2,
    cadre_work_service_pb2,
    internal_service_pb2,
    ledger_service_pb2,
    registry_service_pb2,
    report_service_pb2,
    season_service_pb2,
    year_service_pb2,
)

MODULES = (
    registry_service_pb2,
    ledger_service_pb2,
    access_service_pb2,
    season_service_pb2,
    year_service_pb2,
    cadre_work_service_pb2,
    report_service_pb2,
    internal_service_pb2,
    matcher_service_pb2,
    health_pb2,
)
STREAM_S = 2.0  # a server stream's deadline (it is read for its first message)
IN_FLIGHT = 6  # requests in flight (under the server's 8 a key)
_HUNG_UP = (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)
CALL_S = 20.0  # a unary call's deadline (a fuzzed solve may take seconds)
REPORTED = 20  # answers described on stderr: the first of these codes
REPORT = (
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.UNAVAILABLE,  # clients retry it: never for what a caller sent
    grpc.StatusCode.DATA_LOSS,
)


@dataclass
class Tally:
    rpcs: int
    requests: int = 0
    internal: int = 0
    unknown: int = 0
    other: collections.Counter[str] = field(default_factory=collections.Counter)
    busy: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))

    def line(self, service: str) -> dict[str, Any]:
        return {
            "bench": "fuzz",
            "service": service,
            "rpcs": self.rpcs,
            "requests": self.requests,
            "internal": self.internal,
            "unknown": self.unknown,
            "other_codes": dict(sorted(self.other.items())),
            # where the time went: the three methods that took longest in all
            "slowest_s": {
                path.rsplit("/", 1)[1]: round(seconds, 1)
                for path, seconds in sorted(self.busy.items(), key=lambda kv: -kv[1])[:3]
            },
        }


@dataclass(frozen=True)
class Method:
    path: str  # /package.Service/Method
    input: Any  # the request's message class
    client_streaming: bool
    server_streaming: bool


def services() -> dict[str, list[Method]]:
    found: dict[str, list[Method]] = {}
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            found[service.full_name] = [
                Method(
                    f"/{service.full_name}/{m.name}",
                    message_factory.GetMessageClass(m.input_type),
                    m.client_streaming,
                    m.server_streaming,
                )
                for m in service.methods
            ]
    return found


class Caller:
    """Sends fuzzed requests (bytes) to a method as a role on IN_FLIGHT threads, so that
    drawing the next request does not wait for the last answer, and tallies the answers."""

    def __init__(self, channel: grpc.Channel, keys: dict[str, str]) -> None:
        self.channel = channel
        self.keys = keys
        self.reported = 0
        self.pool = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="fuzz")
        self.slots = threading.BoundedSemaphore(IN_FLIGHT)
        self.lock = threading.Lock()

    def send(self, method: Method, role: str, payloads: list[bytes], tally: Tally) -> None:
        self.slots.acquire()
        self.pool.submit(self._send, method, role, payloads, tally)

    def wait(self) -> None:
        """Until every request sent has its answer."""
        for _ in range(IN_FLIGHT):
            self.slots.acquire()
        for _ in range(IN_FLIGHT):
            self.slots.release()

    def _send(self, method: Method, role: str, payloads: list[bytes], tally: Tally) -> None:
        try:
            key = self.keys.get(role)
            metadata = (("authorization", f"Bearer {key}"),) if key else ()
            started = time.perf_counter()
            code = self._call(method, payloads, metadata)
            with self.lock:
                self._tally(tally, code)
                tally.busy[method.path] += time.perf_counter() - started
        finally:
            self.slots.release()

    def _tally(self, tally: Tally, code: Any) -> None:
        tally.requests += 1
        if code == grpc.StatusCode.INTERNAL:
            tally.internal += 1
        elif code == grpc.StatusCode.UNKNOWN:
            tally.unknown += 1
        elif code is not None:
            tally.other[code.name] += 1
        else:
            tally.other["OK"] += 1

    def _call(self, method: Method, payloads: list[bytes], metadata: Any) -> Any:
        ident = (lambda b: b), (lambda b: b)  # bytes in, bytes out: raw bytes reach the server
        try:
            if method.client_streaming and method.server_streaming:
                call = self.channel.stream_stream(method.path, *ident)(
                    iter(payloads), timeout=STREAM_S, metadata=metadata
                )
                _drain(call)
            elif method.client_streaming:
                self.channel.stream_unary(method.path, *ident)(
                    iter(payloads), timeout=CALL_S, metadata=metadata
                )
            elif method.server_streaming:
                call = self.channel.unary_stream(method.path, *ident)(
                    payloads[0], timeout=STREAM_S, metadata=metadata
                )
                _drain(call)
            else:
                self.channel.unary_unary(method.path, *ident)(
                    payloads[0], timeout=CALL_S, metadata=metadata
                )
        except grpc.RpcError as error:
            code = error.code()
            if code in REPORT:
                self._report(method, error)
            if code in _HUNG_UP and method.server_streaming:
                return None  # a stream open until we hung up: as it should be
            return code
        return None

    def _report(self, method: Method, error: Any) -> None:
        if self.reported < REPORTED:
            self.reported += 1
            say(f"fuzz: {error.code().name} {method.path}: {error.details()!s:.300}")


def _drain(call: Any) -> None:
    """Read a server stream's first message (or its error), then hang up, as a client that
    has what it wanted does."""
    try:
        next(call, None)
    finally:
        call.cancel()
