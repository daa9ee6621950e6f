"""The server interceptor: one log line per RPC and the mapping of errors to gRPC status.

FupinError subclasses become their status code with google.rpc details (field violations),
translated for a caller whose `accept-language` asks for Chinese (server/messages.py);
anything else becomes INTERNAL with a log entry and no traceback sent to the caller.

The server runs on grpc.aio (server/loop.py): a handler that is a plain function stays one
and runs on a thread of the pool, dispatched there from the loop (server/dispatch.py, for
every shape: unary, client stream, server stream, both); an `async` handler (a stream or a
call that waits) is wrapped by a coroutine and waits on the event loop; its caller is checked
and admitted as a wait, not a call (server/admission.py).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable
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
from server import dispatch, limits, messages
from server.admission import Admission, Ticket
from server.dispatch import CallView
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
        if inspect.iscoroutinefunction(handler.unary_unary):
            return handler._replace(unary_unary=_waiting_unary(handler.unary_unary, call))
        if inspect.isasyncgenfunction(handler.unary_stream):
            return handler._replace(unary_stream=_waiting_stream(handler.unary_stream, call))
        if self.pool is None:
            raise RuntimeError("RpcInterceptor.pool is unset: plain handlers run on the pool")
        opened = functools.partial(_Call, *call, waits=False)
        if handler.unary_unary:
            behavior = _checked(handler.unary_unary)
            return handler._replace(unary_unary=dispatch.unary(behavior, opened, self.pool))
        if handler.unary_stream:
            behavior = _checked(handler.unary_stream)
            return handler._replace(
                unary_stream=dispatch.server_stream(behavior, opened, self.pool)
            )
        if handler.stream_unary:
            behavior = _checked_stream(handler.stream_unary)
            return handler._replace(
                stream_unary=dispatch.client_stream(behavior, opened, self.pool)
            )
        behavior = _checked_stream(handler.stream_stream)
        return handler._replace(stream_stream=dispatch.bidi_stream(behavior, opened, self.pool))

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


def _checked(behavior: Behavior) -> Behavior:
    return lambda request, context: behavior(_check_decoded(request), context)


def _checked_stream(behavior: Behavior) -> Behavior:
    return lambda requests, context: behavior(map(_check_decoded, requests), context)


Named = tuple[str, Metrics | None, Guard, Admission | None]


def _waiting_unary(behavior: Behavior, named: Named) -> Behavior:
    async def wrapped(request: Any, context: Any) -> Any:
        with _Call(*named, context, waits=True) as call:
            await call.admit_waiting()
            response = await call.arun(lambda: _checked_off_loop(behavior, request, context))
            return await call.arun(lambda: call.release_waiting(response))

    return wrapped


async def _checked_off_loop(behavior: Behavior, request: Any, context: Any) -> Any:
    """The input-limit walk of a call that starts a run, on a wait worker: an inline problem
    is megabytes (100,000 listings: 0.04-0.12 s of walk), which on the loop held every other
    call's reads and writes that long. The hop costs a solve well under a millisecond."""
    return await behavior(await asyncio.to_thread(_check_decoded, request), context)


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
        # Read now, on the loop: on grpc.aio, a call read on a thread after its client
        # cancelled it is freed memory (server/dispatch.py). Threads read the view.
        self.view = CallView(context)
        self.request_id = request_id_of(self.view)
        self.accept_language = _accept_language(self.view)
        self.peer = self.view.peer()
        self._leaving = threading.Lock()
        self.leaves_on_thread = False  # a plain handler's thread returns its ticket itself
        self.start = 0.0

    def __enter__(self) -> _Call:
        self.start = time.perf_counter()
        structlog.contextvars.bind_contextvars(rpc=self.method, request_id=self.request_id)
        return self

    def admit(self) -> None:
        """Authenticate and authorize the caller, who the servicers then see as current()
        (on the handler's thread); errors are raised as they are, for arun() to map."""
        self.principal = self.guard.admit(self.method, self.view)
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
            self.principal = self.guard.admit(self.method, self.view)
        else:
            admit = self.guard.admit
            self.principal = await self.arun(
                lambda: asyncio.to_thread(admit, self.method, self.view)
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

    async def arun(self, fn: Callable[[], Any]) -> Any:
        """fn() (awaited if it returns an awaitable), its errors answered as their status."""
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
