"""grpc.health.v1 on the event loop (server/loop.py): Check answers without a thread and Watch
waits for a change holding none, so that no number of open Watch streams (the admission limits
bound them: server/admission.py) keeps Check from answering.

The status of each service name is set from any thread (the probe's, server/probe.py; the
SIGTERM handler's) with `set` and `enter_graceful_shutdown`; the loop wakes the watchers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICE_NAME = "grpc.health.v1.Health"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class Health(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    def __init__(self, soon: Callable[[Callable[[], object]], None]) -> None:
        self._soon = soon  # runs a function on the loop's thread
        self._lock = threading.Lock()
        self._status: dict[str, int] = {"": SERVING}
        self._shutting_down = False
        self._changed: asyncio.Event | None = None  # made, set and replaced on the loop only

    def status(self, service: str) -> int | None:
        with self._lock:
            return self._status.get(service)

    def set(self, service: str, status: int) -> None:
        """Set a service's status (from any thread); ignored once shutting down."""
        with self._lock:
            if self._shutting_down or self._status.get(service) == status:
                return
            self._status[service] = status
        self._soon(self._wake)

    def enter_graceful_shutdown(self) -> None:
        """Every service NOT_SERVING, for good."""
        with self._lock:
            self._shutting_down = True
            self._status = dict.fromkeys(self._status, NOT_SERVING)
        self._soon(self._wake)

    def _wake(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    async def Check(  # noqa: N802
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> Any:
        status = self.status(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(  # noqa: N802
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        """The status now, then each change, until the caller leaves."""
        last = None
        while True:
            # Read and subscribe in one step of the loop: a change after the read wakes us.
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            status = self.status(request.service)
            status = UNKNOWN if status is None else status
            if status != last:
                last = status
                yield health_pb2.HealthCheckResponse(status=status)
            else:
                await changed.wait()


def add_to_server(health: Health, server: Any) -> None:
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
