"""The server interceptor: one log line per RPC and the mapping of errors to gRPC status.

FupinError subclasses become their status code with google.rpc details (field violations),
translated for a caller whose `accept-language` asks for Chinese (server/messages.py);
anything else becomes INTERNAL with a log entry and no traceback sent to the caller.

The server runs on grpc.aio (server/loop.py): a handler that is a plain function stays one
(it runs on a thread of the pool), an `async` handler (a stream or a call that waits) is
wrapped by a coroutine and waits on the event loop; its caller is checked and admitted as a
wait, not a call (server/admission.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from typing import Any

import grpc
import structlog
from google.protobuf.message import Message
from grpc_status import rpc_status

from registry.access import policy as access
from registry.access.policy import Principal
from registry.errors import FupinError, InvalidArgument
from registry.resources.requests import request_id_of
from server import limits, messages
from server.admission import Admission, Ticket
from server.guard import Guard
from server.metrics import Metrics

log = structlog.get_logger("fupin.rpc")
Behavior = Callable[[Any, grpc.ServicerContext], Any]


class RpcInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Wraps every handler: binds method and request id, checks the caller (server/guard.py),
    admits it (server/admission.py), logs, maps errors, counts (metrics)."""

    def __init__(
        self, guard: Guard, metrics: Metrics | None = None, admission: Admission | None = None
    ) -> None:
        self.guard = guard
        self.metrics = metrics
        self.admission = admission
        # The calls' thread pool (LoopServer.pool): set by the server once it is built.
        self.pool: Executor | None = None

    async def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        handler = handler._replace(request_deserializer=_lenient(handler.request_deserializer))
        call = (method, self.metrics, self.guard, self.admission)
        if not _waits(handler):
            refused = self._refusal(method, handler_call_details.invocation_metadata)
            if refused is not None:
                return _refusing(handler, call, *refused)
        if handler.unary_unary:
            behavior = handler.unary_unary
            if inspect.iscoroutinefunction(behavior):
                return handler._replace(unary_unary=_waiting_unary(behavior, call))
            if self.pool is not None:
                return handler._replace(unary_unary=_pooled_unary(behavior, call, self.pool))
            return handler._replace(unary_unary=_unary(behavior, call))
        if handler.unary_stream:
            behavior = handler.unary_stream
            if inspect.isasyncgenfunction(behavior):
                return handler._replace(unary_stream=_waiting_stream(behavior, call))
            return handler._replace(unary_stream=_streaming(behavior, call))
        if handler.stream_unary:
            return handler._replace(
                stream_unary=_unary(_checked_stream(handler.stream_unary), call)
            )
        return handler._replace(
            stream_stream=_streaming(_checked_stream(handler.stream_stream), call)
        )

    def _refusal(self, method: str, metadata: Any) -> tuple[Principal, FupinError] | None:
        """(caller, Overloaded) for a call on a thread whose known key is at its bounds: it is
        refused here, on the loop, and takes no thread only to be turned away (under a storm
        from one key, each refusal held a thread of the pool for its authentication). Keys not
        cached yet, keyless callers and calls the key may not make take the usual path."""
        if self.admission is None:
            return None
        principal = self.guard.peek(method, metadata)
        if principal is None or not access.allowed(method, principal.role):
            return None
        if not access.permits(method, principal):
            return None
        try:
            self.admission.check(method, principal, waits=False)
        except FupinError as exc:
            return principal, exc
        return None


def _waits(handler: Any) -> bool:
    """An `async` handler: it waits on the loop, not on a thread."""
    return inspect.iscoroutinefunction(handler.unary_unary) or inspect.isasyncgenfunction(
        handler.unary_stream
    )


def _refusing(handler: Any, named: Named, principal: Principal, refusal: FupinError) -> Any:
    """The handler that answers `refusal` on the loop, logged and counted as any call."""

    async def refuse(request: Any, context: Any) -> Any:
        with _Call(*named, context, waits=False) as call:
            call.principal = principal
            await call.arun(functools.partial(_raise, refusal))

    async def refuse_stream(request: Any, context: Any) -> AsyncIterator[Any]:
        await refuse(request, context)
        return
        yield  # an async generator, as a streaming handler must be

    if handler.unary_unary or handler.stream_unary:
        kind = "unary_unary" if handler.unary_unary else "stream_unary"
        return handler._replace(**{kind: refuse})
    kind = "unary_stream" if handler.unary_stream else "stream_stream"
    return handler._replace(**{kind: refuse_stream})


def _raise(error: Exception) -> None:
    raise error


class _Undecodable:
    """Stands in for a request whose bytes are not a valid message."""


def _lenient(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """grpc answers INTERNAL when a request fails to parse; we answer INVALID_ARGUMENT."""
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:
            return _Undecodable()

    return parse


def _check_decoded(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise InvalidArgument.one("request", "is not a valid protobuf message for this method")
    if isinstance(request, Message):  # not a client stream's iterator: its messages are, each
        limits.check(request)
    return request


def _checked_stream(behavior: Behavior) -> Behavior:
    return lambda requests, context: behavior(map(_check_decoded, requests), context)


Named = tuple[str, Metrics | None, Guard, Admission | None]


def _unary(behavior: Behavior, named: Named) -> Behavior:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        with _Call(*named, context, waits=False) as call:
            call.admit()
            response = call.run(lambda: behavior(_check_decoded(request), context))
            return call.run(lambda: call.release(response))

    return wrapped


def _pooled_unary(behavior: Behavior, named: Named, pool: Executor) -> Behavior:
    """A plain unary handler, run on a thread of the pool by a coroutine of our own rather
    than by grpc: the call's peer and metadata are read on the loop while the call is alive.
    grpc.aio hands a plain handler to a thread that may start after the client has cancelled
    the call and its core call has been freed; reading the peer there crashed the process
    (a segmentation fault, seen under load with callers whose deadlines expired in the
    queue). Errors still map on the loop (arun); the admission ticket is taken and returned
    on the thread, so a call the client left still counts until its thread is done."""

    async def wrapped(request: Any, context: Any) -> Any:
        with _Call(*named, context, waits=False) as call:
            call.leaves_on_thread = True
            loop = asyncio.get_running_loop()
            on_thread = contextvars.copy_context().run  # the log's and the caller's bindings

            def work() -> Any:
                try:
                    call.admit_unmapped()
                    response = behavior(_check_decoded(request), context)
                    return call.release(response)
                finally:
                    call.leave()

            return await call.arun(lambda: loop.run_in_executor(pool, on_thread, work))

    return wrapped


def _streaming(behavior: Behavior, named: Named) -> Behavior:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        with _Call(*named, context, waits=False) as call:
            call.admit()
            # Errors surface while iterating, so every next() runs under the mapping.
            responses = call.run(lambda: iter(behavior(_check_decoded(request), context)))
            while (item := call.run(lambda: next(responses, _END))) is not _END:
                yield call.run(lambda: call.release(item))

    return wrapped


def _waiting_unary(behavior: Behavior, named: Named) -> Behavior:
    async def wrapped(request: Any, context: Any) -> Any:
        with _Call(*named, context, waits=True) as call:
            await call.admit_waiting()
            response = await call.arun(lambda: behavior(_check_decoded(request), context))
            return await call.arun(lambda: call.release_waiting(response))

    return wrapped


def _waiting_stream(behavior: Behavior, named: Named) -> Behavior:
    async def wrapped(request: Any, context: Any) -> AsyncIterator[Any]:
        with _Call(*named, context, waits=True) as call:
            await call.admit_waiting()
            responses = await call.arun(lambda: behavior(_check_decoded(request), context))
            try:
                while (item := await call.arun(lambda: anext(responses, _END))) is not _END:
                    yield await call.arun(lambda: call.release_waiting(item))
            finally:
                await responses.aclose()  # its own clean-up (unsubscribing) runs now

    return wrapped


_END = object()


class _Call:
    """One RPC in flight: its log line and its error mapping."""

    def __init__(
        self,
        method: str,
        metrics: Metrics | None,
        guard: Guard,
        admission: Admission | None,
        context: Any,
        *,
        waits: bool,
    ) -> None:
        self.method = method
        self.admission = admission
        self.waits = waits
        self.admitted: Ticket | None = None
        self.metrics = metrics
        self.context = context
        self.guard = guard
        self.principal: Principal | None = None
        self.code = grpc.StatusCode.OK
        self.request_id = request_id_of(context)
        self.accept_language = _accept_language(context)
        # Read now, on the loop for plain unary calls (_pooled_unary): on grpc.aio, a call's
        # peer read on a thread after the client cancelled it reads freed memory.
        self.peer = context.peer()
        self._leaving = threading.Lock()
        self.leaves_on_thread = False  # a pooled call's thread returns its ticket itself
        self.start = 0.0

    def __enter__(self) -> _Call:
        self.start = time.perf_counter()
        structlog.contextvars.bind_contextvars(rpc=self.method, request_id=self.request_id)
        return self

    def admit(self) -> None:
        """Authenticate and authorize the caller, who the servicers then see as current()."""
        self.run(self.admit_unmapped)

    def admit_unmapped(self) -> None:
        """admit() whose errors are raised as they are (for arun() to map on the loop)."""
        self.principal = self.guard.admit(self.method, self.context)
        self.admitted = self._ticket()
        access.bind(self.principal or access.NOBODY)

    def leave(self) -> None:
        """Return the admission ticket, once, from whichever thread is done first."""
        with self._leaving:
            ticket, self.admitted = self.admitted, None
        if self.admission is not None and ticket is not None:
            self.admission.leave(ticket)

    def _ticket(self) -> Ticket | None:
        """Admitted as a call or a wait (server/admission.py), or Overloaded."""
        if self.admission is None:
            return None
        return self.admission.enter(self.method, self.principal, waits=self.waits, peer=self.peer)

    async def admit_waiting(self) -> None:
        """admit() for a call that waits on the loop: the key is looked up on a thread (it may
        read the database), unless the method needs none."""
        if access.is_public(self.method):
            self.principal = self.guard.admit(self.method, self.context)
        else:
            admit = self.guard.admit
            self.principal = await self.arun(
                lambda: asyncio.to_thread(admit, self.method, self.context)
            )
        self.admitted = await self.arun(self._ticket)
        access.bind(self.principal or access.NOBODY)

    def __exit__(self, *exc: object) -> None:
        if exc[0] in (GeneratorExit, asyncio.CancelledError):  # the client went away
            self.code = grpc.StatusCode.CANCELLED
        access.unbind()
        if not self.leaves_on_thread:
            self.leave()
        who = self.principal
        seconds = time.perf_counter() - self.start
        log.info(
            "rpc",
            code=self.code.name,
            duration_ms=round(seconds * 1000, 3),
            peer=self.peer,
            key_id=who.key_id if who else None,
            role=who.role.value if who else None,
        )
        if self.metrics is not None:
            self.metrics.rpc(self.method, self.code.name, seconds)
        structlog.contextvars.unbind_contextvars("rpc", "request_id")

    def release(self, response: Any) -> Any:
        return self.guard.release(self.principal, self.method, response, self.request_id)

    async def release_waiting(self, response: Any) -> Any:
        if self.principal is None:
            return response
        return await asyncio.to_thread(self.release, response)

    def run(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except FupinError as exc:
            self.code = exc.code
            self.context.abort(*self._status(exc))
        except Exception:
            self.code = grpc.StatusCode.INTERNAL
            log.exception("rpc_internal_error")
            self.context.abort(*self._internal())

    async def arun(self, fn: Callable[[], Any]) -> Any:
        """run() for a coroutine (what fn returns is awaited when it is awaitable)."""
        try:
            result = fn()
            return await result if inspect.isawaitable(result) else result
        except FupinError as exc:
            self.code = exc.code
            await self.context.abort(*self._status(exc))
        except (grpc.aio.AbortError, asyncio.CancelledError, GeneratorExit):
            raise
        except Exception:
            self.code = grpc.StatusCode.INTERNAL
            log.exception("rpc_internal_error")
            await self.context.abort(*self._internal())

    def _status(self, exc: FupinError) -> tuple[grpc.StatusCode, str, Any]:
        status = exc.to_status()
        messages.localize(status, self.accept_language)  # beside the English, if asked
        sent = rpc_status.to_status(status)
        return sent.code, sent.details, sent.trailing_metadata

    def _internal(self) -> tuple[grpc.StatusCode, str]:
        return grpc.StatusCode.INTERNAL, f"internal error (request id {self.request_id})"


def _accept_language(context: Any) -> str:
    """The caller's `accept-language` metadata (the CLI's --lang, the console's page), or ""."""
    for key, value in context.invocation_metadata() or ():
        if key == "accept-language" and isinstance(value, str):
            return value[:200]
    return ""
