"""RegistrySource over gRPC: the matcher as its own process, the registry as another.

Both sides are derived from the RegistrySource protocol and the MatcherStoreService
descriptor (proto/fupin/registry/v1/internal_service.proto), with no code per method:
`add_to_server` serves any RegistrySource (the registry's InProcessSource) and `GrpcSource`
calls it. A protocol method whose RPC is missing fails at startup (and in
tests/matcher/service/test_grpc_source.py); adding one takes only its messages in the .proto.

Errors come back as the registry's own exceptions (NotFound, Aborted with its field
violations, ...), so the matcher answers its callers exactly as in one process; an unreachable
registry is Unavailable. The channel retries UNAVAILABLE on reads, on methods keyed by a
request_id and on the writes that replace what an earlier attempt stored (see `retried`).
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients import auth
from clients.client import retry_config
from clients.errors import from_rpc_error
from fupin.registry.v1 import internal_service_pb2 as ipb
from matcher.service.source import RegistrySource
from registry import errors
from registry.resources import requests
from server import listing_columns, wire

SERVICE = ipb.DESCRIPTOR.services_by_name["MatcherStoreService"]
READ_PREFIXES = ("open_", "get_", "list_", "supply_")
# Reads whose names do not say so (they change nothing: safe to retry).
READS = frozenset({"aid_inputs", "stationing_data", "contracting_data"})
# Writes a retry cannot apply twice: they store a run's outcome in place of an earlier
# attempt's and leave an ended run as it is (registry/runs/records.py settle, registry/runs/aid.py
# store_grants). Unretried, a reply lost while a run ends would leave it RUNNING.
REPLACING = frozenset({"update_run", "store_grants", "finish_cadre_run"})
# Writes that make something new at each call, or refuse a second one, unless a request_id
# makes a retry a replay: a call without one gets one of its own (LINK_ID) at its first
# attempt, which the channel's retries resend. So a reply lost on the link cannot hold a
# listing's kilograms twice, leave a second run (or a retry refused ALREADY_EXISTS and the
# first run QUEUED for ever), or answer a commit or discard that happened FAILED_PRECONDITION.
KEYED_BY_THE_LINK = frozenset(
    {"hold_listings", "create_run", "commit_produce", "commit_aid", "commit_cadres", "discard_run"}
)
# Methods whose RPC streams its value: how the registry sends it and the matcher joins it.
STREAMED: dict[str, tuple[Callable[[Any], Iterator[Message]], Callable[[Iterator[Any]], Any]]] = {
    "open_listing_columns": (listing_columns.chunks, listing_columns.joined),
}
LINK_ID = "link-"  # + 32 hex digits: no caller's id (rq- + a hash, registry/resources/requests.py)
_ERRORS: dict[grpc.StatusCode, Callable[[str, list[errors.FieldViolation]], Exception]] = {
    grpc.StatusCode.INVALID_ARGUMENT: lambda m, v: errors.InvalidArgument(v, m),
    grpc.StatusCode.NOT_FOUND: lambda m, v: errors.NotFound(m, field=v[0].field if v else ""),
    grpc.StatusCode.ALREADY_EXISTS: lambda m, v: errors.AlreadyExists(
        m, field=v[0].field if v else ""
    ),
    grpc.StatusCode.ABORTED: lambda m, v: errors.Aborted(m, v),
    grpc.StatusCode.FAILED_PRECONDITION: lambda m, v: errors.FailedPrecondition(m),
    grpc.StatusCode.PERMISSION_DENIED: lambda m, v: errors.PermissionDenied(m, v),
    grpc.StatusCode.RESOURCE_EXHAUSTED: lambda m, v: errors.ResourceExhausted(m),
    grpc.StatusCode.UNAVAILABLE: lambda m, v: errors.Unavailable(f"registry unavailable: {m}"),
    grpc.StatusCode.DEADLINE_EXCEEDED: lambda m, v: errors.Unavailable(f"registry too slow: {m}"),
}


def protocol_methods() -> list[str]:
    """The methods of RegistrySource (each has an RPC), in name order."""
    return sorted(
        name
        for name, member in vars(RegistrySource).items()
        if not name.startswith("_") and inspect.isfunction(member)
    )


def rpc_name(method: str) -> str:
    """open_listings -> OpenListings."""
    return "".join(part.title() for part in method.split("_"))


def rpc(method: str) -> MethodDescriptor:
    try:
        return SERVICE.methods_by_name[rpc_name(method)]
    except KeyError:
        raise LookupError(
            f"RegistrySource.{method} has no RPC {SERVICE.full_name}.{rpc_name(method)}"
        ) from None


def retried(method: str) -> bool:
    """Reads, writes keyed by a request_id (a retry returns the first result) and writes
    that replace (a retry stores the same once)."""
    return (
        method.startswith(READ_PREFIXES)
        or method in READS | REPLACING
        or "request_id" in _signature(method).parameters
    )


@functools.cache
def _signature(method: str) -> inspect.Signature:
    return inspect.signature(getattr(RegistrySource, method))


@functools.cache
def _hints(method: str) -> dict[str, Any]:
    return typing.get_type_hints(getattr(RegistrySource, method))


@functools.cache
def _messages(method: str) -> tuple[type[Message], type[Message]]:
    descriptor = rpc(method)
    return (
        message_factory.GetMessageClass(descriptor.input_type),
        message_factory.GetMessageClass(descriptor.output_type),
    )


def _parameters(method: str) -> list[inspect.Parameter]:
    return [p for p in _signature(method).parameters.values() if p.name != "self"]


# --- server side -----------------------------------------------------------------------------


def add_to_server(source: RegistrySource, server: grpc.Server) -> str:
    """Serve `source` as MatcherStoreService on server; returns the service name."""
    handlers = {}
    for method in protocol_methods():
        request_type, response_type = _messages(method)
        call = getattr(source, method)
        serving = (request_type.FromString, response_type.SerializeToString)
        if rpc(method).server_streaming:  # its value goes as a stream of chunks
            handler = grpc.unary_stream_rpc_method_handler(_chunked(call, method), *serving)
        else:
            handler = grpc.unary_unary_rpc_method_handler(
                _handler(call, method, response_type), *serving
            )
        handlers[rpc(method).name] = handler
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),)
    )
    return str(SERVICE.full_name)


def _handler(
    call: Callable[..., Any], method: str, response_type: type[Message]
) -> Callable[[Message, Any], Message]:
    def handle(request: Message, context: Any) -> Message:
        kwargs = arguments(method, request)
        if method in KEYED_BY_THE_LINK:
            kwargs["request_id"] = link_scoped(kwargs["request_id"])
        return wire.fill_response(response_type(), call(**kwargs))

    return handle


def _chunked(call: Callable[..., Any], method: str) -> Callable[[Message, Any], Iterator[Message]]:
    def handle(request: Message, context: Any) -> Iterator[Message]:
        return STREAMED[method][0](call(**arguments(method, request)))

    return handle


def link_scoped(request_id: str) -> str:
    """A link's request id as stored: scoped to the calling key, as a caller's ids are
    (registry/resources/requests.py checked_request_id), so one matcher's id replays nothing
    of another's. Ids the matcher passes on from its callers are scoped already."""
    if not request_id.startswith(LINK_ID):
        return request_id
    return requests.scoped(LINK_ID, request_id)


def arguments(method: str, request: Message) -> dict[str, Any]:
    """Keyword arguments of `method` from its request message."""
    hints, fields = _hints(method), request.DESCRIPTOR.fields_by_name
    out: dict[str, Any] = {}
    for param in _parameters(method):
        value = wire.value(request, fields[param.name], hints.get(param.name, Any))
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        else:
            out[param.name] = value
    return out


# --- client side -----------------------------------------------------------------------------


def service_config(max_attempts: int = 5) -> str:
    methods = [rpc(m).name for m in protocol_methods() if retried(m)]
    entry = retry_config(SERVICE.full_name, methods, max_attempts=max_attempts)
    return json.dumps({"methodConfig": [entry]})


def channel_options() -> list[tuple[str, Any]]:
    limit = 512 * 1024 * 1024  # 200,000 open listings are ~30 MB
    return [
        ("grpc.service_config", service_config()),
        ("grpc.enable_retries", 1),
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
    ]


class GrpcSource:
    """RegistrySource calling a registry's MatcherStoreService; build it with `connect`."""

    def __init__(self, channel: grpc.Channel, *, timeout_s: float = 60.0) -> None:
        self.channel = channel
        self.timeout_s = timeout_s
        self._health = health_pb2_grpc.HealthStub(channel)
        for method in protocol_methods():
            setattr(self, method, self._method(method))

    def _method(self, method: str) -> Callable[..., Any]:
        request_type, response_type = _messages(method)
        streamed = rpc(method).server_streaming
        stub: Any = (self.channel.unary_stream if streamed else self.channel.unary_unary)(
            f"/{SERVICE.full_name}/{rpc(method).name}",
            request_serializer=request_type.SerializeToString,
            response_deserializer=response_type.FromString,
        )
        signature, returns = _signature(method), _hints(method).get("return", Any)
        params = _parameters(method)

        def call(*args: Any, **kwargs: Any) -> Any:
            binding = signature.bind(None, *args, **kwargs)  # None stands for self
            binding.apply_defaults()  # a default (e.g. reader=INTERNAL) travels like any value
            bound = binding.arguments
            keyed = method in KEYED_BY_THE_LINK and not bound.get("request_id")
            if keyed:
                bound["request_id"] = LINK_ID + uuid.uuid4().hex
            request = request_type()
            for param in params:
                if param.name in bound:
                    field = request.DESCRIPTOR.fields_by_name[param.name]
                    wire.put(request, field, bound[param.name])
            try:
                response = stub(request, timeout=self.timeout_s)
                if streamed:
                    return STREAMED[method][1](response)
            except grpc.RpcError as error:
                raise registry_error(error) from error
            values = wire.response_values(response, returns)
            if keyed and method == "create_run":
                # A replay of the link's own id answers this same call, whose first attempt
                # made the run (created), unlike a caller's retry, which waits for the run.
                return values[0], True
            return values

        call.__name__ = method
        return call

    def serving(self, timeout_s: float = 2.0) -> bool:
        """Whether the registry answers and says it can reach its database."""
        request = health_pb2.HealthCheckRequest(service=SERVICE.full_name)
        try:
            reply = self._health.Check(request, timeout=timeout_s)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def wait_ready(self, timeout_s: float) -> None:
        """Block until the registry's channel connects (a matcher may start first)."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout_s)
        except grpc.FutureTimeoutError:
            raise errors.Unavailable("the registry cannot be reached") from None

    def close(self) -> None:
        self.channel.close()


def connect(target: str, *, timeout_s: float = 60.0) -> tuple[RegistrySource, GrpcSource]:
    """A RegistrySource for the registry at target (and the object, to close and probe it).

    Its calls carry the matcher's own API key (an admin key: $FUPIN_API_KEY, or the file
    $FUPIN_API_KEY_FILE names; clients/auth.py)."""
    channel = auth.open_channel(target, api_key=auth.resolve_key(), options=channel_options())
    source = GrpcSource(channel, timeout_s=timeout_s)
    return cast(RegistrySource, source), source


def registry_error(error: grpc.RpcError) -> Exception:
    """The registry's exception for a failed call (INTERNAL and the like: a RuntimeError)."""
    failure = from_rpc_error(error)
    violations = [errors.FieldViolation(f, d) for f, d in failure.field_violations]
    make = _ERRORS.get(failure.code)
    if make is None:
        return RuntimeError(f"registry call failed: {failure.code.name}: {failure.message}")
    return make(failure.message, violations)
