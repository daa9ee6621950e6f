"""Checkout holds over the split matcher's link to the registry (MatcherStoreService): the
record comes back as the in-process one, and a reply lost on the link holds nothing twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from fupin.registry.v1 import internal_service_pb2 as ipb
from registry.runs.data import HeldKg
from registry.season import holds, models
from server import grpc_source
from tests.season.conftest import TERMS, column

HOLD = f"/{grpc_source.SERVICE.full_name}/HoldListings"


class LossyLink:
    """A gRPC proxy on loopback in front of the registry: it passes every call on, and answers
    the first HoldListings UNAVAILABLE after the registry has answered it (a reply lost on the
    way back), as a dropped connection would. `seen`: the HoldListings requests passed on."""

    def __init__(self, target: str) -> None:
        self.upstream = grpc.insecure_channel(target)
        self.seen: list[ipb.HoldListingsRequest] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        self.server.add_generic_rpc_handlers((_Forward(self),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def forward(self, method: str, request: bytes, context: grpc.ServicerContext) -> bytes:
        passed = [(k, v) for k, v in context.invocation_metadata() if k in ("authorization",)]
        call = self.upstream.unary_unary(method)
        reply: bytes = call(request, metadata=passed, timeout=30)
        if method == HOLD:
            self.seen.append(ipb.HoldListingsRequest.FromString(request))
            if len(self.seen) == 1:
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


@pytest.fixture
def lossy(server) -> Iterator[LossyLink]:
    link = LossyLink(f"127.0.0.1:{server.port}")
    yield link
    link.close()


def test_a_hold_travels_over_the_split_matchers_link(server, stock):
    """The matcher apart from the registry holds through MatcherStoreService: the record
    (times, items) comes back as the in-process one, and a retried request_id replays it."""
    remote, handle = grpc_source.connect(f"127.0.0.1:{server.port}", timeout_s=30)
    try:
        kwargs = {
            "items": [HeldKg(stock.listing_id, 120)],
            "terms": TERMS,
            "minutes": 3,
            "reader": stock.platform,
            "request_id": "split-1",
            "fingerprint": "fp",
        }
        held = remote.hold_listings(**kwargs)
        assert (held.state, held.kg, held.items) == (
            models.HELD,
            120,
            (HeldKg(stock.listing_id, 120),),
        )
        assert held.expire_time - held.create_time == dt.timedelta(minutes=3)
        assert remote.hold_listings(**kwargs) == held
        assert holds.get_hold(server.store, held.id, stock.platform) == held
    finally:
        handle.close()


def test_a_lost_reply_without_request_id_holds_once(server, stock, lossy):
    """QuickSource's hold without a request_id: the registry held 120 kg, its reply was lost
    and the channel retried. The link gave the call an id of its own at the first attempt and
    the retry carried it, so the registry replayed the hold instead of holding 120 kg more."""
    remote, handle = grpc_source.connect(f"127.0.0.1:{lossy.port}", timeout_s=30)
    try:
        held = remote.hold_listings(
            items=[HeldKg(stock.listing_id, 120)],
            terms=TERMS,
            minutes=3,
            reader=stock.platform,
            request_id="",
            fingerprint="fp",
        )
    finally:
        handle.close()
    assert len(lossy.seen) == 2, "the lost reply was retried"
    assert held.kg == 120
    listed = holds.list_holds(server.store, reader=stock.platform, now=held.create_time)
    assert [h.id for h in listed] == [held.id]
    # 400 kg committed before; one hold of 120 kg, not two.
    assert column(server.store, "listing", "reserved_kg", stock.listing_id) == 520
    first, retry = (r.request_id for r in lossy.seen)
    assert first.startswith(grpc_source.LINK_ID) and retry == first
