"""The gRPC server on an asyncio event loop of its own, behind the synchronous API of grpc.Server.

Calls whose handlers are plain functions (almost every RPC) run on the `max_workers` threads
of the migration pool, as before. Streams and calls that wait long (Health/Watch,
WatchMatchRun, WatchAlerts, MatchProduce and the other runs awaiting their solve) have
`async` handlers: they wait on the loop and hold no thread; their short blocking steps (a
database read, storing a run) run with `asyncio.to_thread`, on the loop's default executor,
a pool of `wait_workers` threads apart from the calls' own, so that no pile of waiting calls
delays an ordinary one.

`LoopServer` keeps the methods of grpc.Server the code and its tests use (the generated
`add_..._to_server`, ports, start, stop(grace).wait(), wait_for_termination), each run on the
loop's thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent import futures
from typing import Any, TypeVar

import grpc

T = TypeVar("T")
WAIT_SLICE_S = 0.2  # how soon a waiting main thread runs a signal handler


class LoopServer(grpc.Server):
    """A grpc.aio server, its loop on a daemon thread, with grpc.Server's blocking methods."""

    def __init__(
        self,
        *,
        max_workers: int,
        wait_workers: int,
        interceptors: Sequence[Any],
        options: Sequence[tuple[str, Any]],
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.pool = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc")
        self.loop.set_default_executor(
            futures.ThreadPoolExecutor(max_workers=wait_workers, thread_name_prefix="wait")
        )
        self._thread = threading.Thread(target=self._run, name="grpc-loop", daemon=True)
        self._thread.start()
        self._stopped = threading.Event()

        async def make() -> grpc.aio.Server:
            return grpc.aio.server(
                migration_thread_pool=self.pool,
                interceptors=list(interceptors),
                options=list(options),
                # Calls beyond the admission limits (server/admission.py) are refused by the
                # interceptor with RESOURCE_EXHAUSTED and retry info, not by grpc's own bound.
                maximum_concurrent_rpcs=None,
            )

        self.aio = self.call(make())

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the loop and wait for its result (never from the loop itself)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def soon(self, fn: Callable[[], object]) -> None:
        """Run fn on the loop's thread, from any thread; dropped once the loop has closed (the
        server has stopped: a health probe ending a slow check after it had nothing to wake,
        and died with "Event loop is closed", seen in CI's outage test on 7 December)."""
        try:
            self.loop.call_soon_threadsafe(fn)
        except RuntimeError:
            if not self.loop.is_closed():
                raise

    # grpc.Server's methods, as the generated add_..._to_server and create_server use them
    def add_generic_rpc_handlers(self, handlers: Iterable[Any]) -> None:
        self.aio.add_generic_rpc_handlers(tuple(handlers))

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.aio.add_registered_method_handlers(service, handlers)  # type: ignore[attr-defined]

    def add_insecure_port(self, address: str) -> int:
        return int(self.aio.add_insecure_port(address))

    def add_secure_port(self, address: str, credentials: grpc.ServerCredentials) -> int:
        return int(self.aio.add_secure_port(address, credentials))

    def start(self) -> None:
        self.call(self.aio.start())

    def stop(self, grace: float | None = None) -> threading.Event:
        """Refuse new calls; those in flight get `grace` seconds, then are cancelled. The
        event is set once every call has ended and the loop is stopped."""

        async def stop() -> None:
            try:
                await self.aio.stop(grace)
                # Handlers still on a thread (a client stream's reader) end with their calls;
                # the loop must run until they have, or they would outlive the calls' memory.
                await asyncio.to_thread(self.pool.shutdown, wait=True, cancel_futures=True)
            finally:
                self._stopped.set()
                self.loop.call_soon(self.loop.stop)

        if self._stopped.is_set() or not self._thread.is_alive():
            self._stopped.set()
            return self._stopped
        asyncio.run_coroutine_threadsafe(stop(), self.loop)
        return self._stopped

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """True once stopped (False if `timeout` passed first).

        Waits in slices: a SIGTERM that the kernel hands to another thread (grpc's, the
        audit writer's) only sets CPython's flag, and its Python handler runs when the main
        thread next runs bytecode; an untimed wait here never would (`fupin serve` then
        outlived its SIGTERM: seen twice in CI, the main thread's stack in this wait)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = (
                WAIT_SLICE_S if deadline is None else min(WAIT_SLICE_S, deadline - time.monotonic())
            )
            if self._stopped.wait(max(left, 0.0)):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
