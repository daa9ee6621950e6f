"""Checkout holds over the split matcher's link to the registry (MatcherStoreService): the
record comes back as the in-process one, and a reply lost on the link holds nothing twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from registry.runs.data import HeldKg
from registry.season import holds, models
from server import grpc_source
from tests.lossylink import LossyLink
from tests.season.conftest import TERMS, column


@pytest.fixture
def lossy(server) -> Iterator[LossyLink]:
    link = LossyLink(f"127.0.0.1:{server.port}", {"HoldListings"})
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
    assert len(lossy.seen["HoldListings"]) == 2, "the lost reply was retried"
    assert held.kg == 120
    listed = holds.list_holds(server.store, reader=stock.platform, now=held.create_time)
    assert [h.id for h in listed] == [held.id]
    # 400 kg committed before; one hold of 120 kg, not two.
    assert column(server.store, "listing", "reserved_kg", stock.listing_id) == 520
    first, retry = (r.request_id for r in lossy.seen["HoldListings"])
    assert first.startswith(grpc_source.LINK_ID) and retry == first
