"""The server interceptor: one log line per RPC and the mapping of errors to gRPC status.

FupinError subclasses become their status code with google.rpc details (field violations),
translated for a caller whose `accept-language` asks for Chinese (server/messages.py);
anything else becomes INTERNAL with a log entry and no traceback sent to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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
from server.admission import Admission
from server.guard import Guard
from server.metrics import Metrics

log = structlog.get_logger("fupin.rpc")
Behavior = Callable[[Any, grpc.ServicerContext], Any]


class RpcInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Wraps every handler: binds method and request id, checks the caller (server/guard.py),
    logs, maps errors, counts (metrics)."""

    def __init__(
        self, guard: Guard, metrics: Metrics | None = None, admission: Admission | None = None
    ) -> None:
        self.guard = guard
        self.metrics = metrics
        self.admission = admission

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        handler = handler._replace(request_deserializer=_lenient(handler.request_deserializer))
        call = (method, self.metrics, self.guard, self.admission)
        if handler.unary_unary:
            return handler._replace(unary_unary=_unary(handler.unary_unary, call))
        if handler.stream_unary:
            return handler._replace(
                stream_unary=_unary(_checked_stream(handler.stream_unary), call)
            )
        if handler.unary_stream:
            return handler._replace(unary_stream=_streaming(handler.unary_stream, call))
        return handler._replace(
            stream_stream=_streaming(_checked_stream(handler.stream_stream), call)
        )


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
        with _Call(*named, context) as call:
            call.admit()
            response = call.run(lambda: behavior(_check_decoded(request), context))
            return call.run(lambda: call.release(response))

    return wrapped


def _streaming(behavior: Behavior, named: Named) -> Behavior:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        with _Call(*named, context) as call:
            call.admit()
            # Errors surface while iterating, so every next() runs under the mapping.
            responses = call.run(lambda: iter(behavior(_check_decoded(request), context)))
            while (item := call.run(lambda: next(responses, _END))) is not _END:
                yield call.run(lambda: call.release(item))

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
        context: grpc.ServicerContext,
    ) -> None:
        self.method = method
        self.admission = admission
        self.admitted: str | None = None
        self.metrics = metrics
        self.context = context
        self.guard = guard
        self.principal: Principal | None = None
        self.code = grpc.StatusCode.OK
        self.request_id = request_id_of(context)
        self.accept_language = _accept_language(context)
        self.start = 0.0

    def __enter__(self) -> _Call:
        self.start = time.perf_counter()
        structlog.contextvars.bind_contextvars(rpc=self.method, request_id=self.request_id)
        return self

    def admit(self) -> None:
        """Authenticate and authorize the caller, who the servicers then see as current()."""
        self.principal = self.run(lambda: self.guard.admit(self.method, self.context))
        if self.admission is not None:
            self.admitted = self.run(lambda: self.admission.enter(self.method, self.principal))  # type: ignore[union-attr]
        access.bind(self.principal or access.NOBODY)

    def __exit__(self, *exc: object) -> None:
        if exc[0] is GeneratorExit:  # the client went away mid-stream
            self.code = grpc.StatusCode.CANCELLED
        access.unbind()
        if self.admission is not None:
            self.admission.leave(self.admitted)
        who = self.principal
        seconds = time.perf_counter() - self.start
        log.info(
            "rpc",
            code=self.code.name,
            duration_ms=round(seconds * 1000, 3),
            peer=self.context.peer(),
            key_id=who.key_id if who else None,
            role=who.role.value if who else None,
        )
        if self.metrics is not None:
            self.metrics.rpc(self.method, self.code.name, seconds)
        structlog.contextvars.unbind_contextvars("rpc", "request_id")

    def release(self, response: Any) -> Any:
        return self.guard.release(self.principal, self.method, response, self.request_id)

    def run(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except FupinError as exc:
            self.code = exc.code
            status = exc.to_status()
            messages.localize(status, self.accept_language)  # beside the English, if asked
            self.context.abort_with_status(rpc_status.to_status(status))
        except Exception:
            self.code = grpc.StatusCode.INTERNAL
            log.exception("rpc_internal_error")
            self.context.abort(
                grpc.StatusCode.INTERNAL, f"internal error (request id {self.request_id})"
            )


def _accept_language(context: grpc.ServicerContext) -> str:
    """The caller's `accept-language` metadata (the CLI's --lang, the console's page), or ""."""
    for key, value in context.invocation_metadata() or ():
        if key == "accept-language" and isinstance(value, str):
            return value[:200]
    return ""
