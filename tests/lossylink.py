"""A gRPC proxy on loopback in front of the registry that loses replies: the split matcher's
link (MatcherStoreService) as a dropped connection leaves it."""

from __future__ import annotations

from collections import defaultdict
from concurrent import futures

import grpc
from google.protobuf import message_factory
from google.protobuf.message import Message

from server import grpc_source


class LossyLink:
    """Passes every call on, and answers the first call of each RPC in `lose` (names such as
    "HoldListings") UNAVAILABLE after the registry has answered it: a reply lost on the way
    back. `seen[rpc]`: the requests of those RPCs passed on, decoded."""

    def __init__(self, target: str, lose: set[str]) -> None:
        self.upstream = grpc.insecure_channel(target)
        self.lose = {f"/{grpc_source.SERVICE.full_name}/{name}": name for name in lose}
        self.seen: dict[str, list[Message]] = defaultdict(list)
        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        self.server.add_generic_rpc_handlers((_Forward(self),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def forward(self, method: str, request: bytes, context: grpc.ServicerContext) -> bytes:
        passed = [(k, v) for k, v in context.invocation_metadata() if k in ("authorization",)]
        call = self.upstream.unary_unary(method)
        try:
            reply: bytes = call(request, metadata=passed, timeout=30)
        except grpc.RpcError as error:  # the registry's own error, passed back as it came
            context.abort(error.code(), error.details() or "")
        name = self.lose.get(method)
        if name is not None:
            descriptor = grpc_source.SERVICE.methods_by_name[name].input_type
            self.seen[name].append(message_factory.GetMessageClass(descriptor).FromString(request))
            if len(self.seen[name]) == 1:
                context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset (test)")
        return reply

    def close(self) -> None:
        self.server.stop(None)
        self.upstream.close()


class _Forward(grpc.GenericRpcHandler):
    def __init__(self, link: LossyLink) -> None:
        self.link = link

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = details.method  # type: ignore[attr-defined]
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: self.link.forward(method, request, context)
        )
