"""Input limits on every request (server/limits.py): beyond them INVALID_ARGUMENT naming the
field, and nothing stored."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pool

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from server import limits
from tests import factories
from tests.matcher.service.test_service import inline_listing, inline_order
from tests.rpcerrors import fields_of, rpc_fails


def _invalid(call, fields: list[str]) -> None:
    error = rpc_fails(call, grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == fields


@pytest.mark.parametrize("mebibytes", [1, 40])
def test_a_huge_product_is_refused_and_pages_still_answer(registry, mebibytes):
    """A 1 MiB Listing.product was stored; two 40 MiB listings (under the 64 MiB message
    limit) made every ListListings page too large to send, RESOURCE_EXHAUSTED for everyone."""
    village = factories.create_village(registry)
    household = factories.create_household(registry, village.id)
    producer = registry.CreateProducer(
        api.CreateProducerRequest(producer=factories.producer_for(household.id))
    )
    listing = factories.listing(producer.id)
    listing.product = "a" * (mebibytes << 20)
    for _ in range(2):
        _invalid(
            lambda: registry.CreateListing(api.CreateListingRequest(listing=listing), timeout=60),
            ["listing.product"],
        )
    assert not registry.ListListings(api.ListListingsRequest()).listings


def test_two_hundred_thousand_grades_are_refused(registry):
    """An order with 200,000 accepted grades was stored; at most 50 now."""
    buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    order = factories.order(buyer.id)
    order.accepted_grades[:] = [f"g{i}" for i in range(200_000)]
    _invalid(
        lambda: registry.CreateOrder(api.CreateOrderRequest(order=order)),
        ["order.accepted_grades"],
    )
    order.accepted_grades[:] = [f"g{i}" for i in range(50)]
    assert registry.CreateOrder(api.CreateOrderRequest(order=order)).id


def test_inline_and_streamed_fields_are_named(channel, registry):
    """Limits hold inside inline problems and in every message of a client stream."""
    order = inline_order("o", 10)
    order.accepted_grades[:] = ["A"] * 51
    problem = mpb.ProduceProblem(listings=[inline_listing("a", 5)], orders=[order])
    matcher = mpb_grpc.MatcherServiceStub(channel)
    _invalid(
        lambda: matcher.MatchProduce(mpb.MatchProduceRequest(inline=problem), timeout=30),
        ["inline.orders[0].accepted_grades"],
    )
    village = factories.create_village(registry)
    rows = [factories.household(village.id) for _ in range(3)]
    rows[2].head_name = "名" * 1001
    chunks = [
        api.ImportHouseholdsRequest(households=rows[:1]),
        api.ImportHouseholdsRequest(households=rows[1:]),
    ]
    _invalid(lambda: registry.ImportHouseholds(iter(chunks)), ["households[1].head_name"])


def test_every_named_limit_is_a_real_field():
    """A renamed field would silently fall back to its default limit."""
    pool = descriptor_pool.Default()
    for name in limits.LIMITS:
        assert pool.FindFieldByName(name).full_name == name


def test_every_service_states_the_limits(repo_root: Path):
    """The limits are part of each service's proto comment, the API reference."""
    for proto in (repo_root / "proto").rglob("*_service.proto"):
        text = proto.read_text()
        assert "Input limits (server/limits.py" in text, proto.name
        assert f"{limits.MAX_STRING_CHARS:,} characters" in text


@pytest.mark.parametrize("size", [0, 1, 5000])
def test_small_requests_pass(size):
    """Requests within every limit pass the check untouched."""
    request = mpb.MatchProduceRequest(
        inline=mpb.ProduceProblem(listings=[inline_listing(f"l{i}", 5) for i in range(size)])
    )
    limits.check(request)


def test_each_field_is_checked_once_its_message_could_break_it():
    """Rows of an import are checked field by field only where a row is big enough for the
    field to be beyond its limit: a short row with 21 causes is still refused (the causes
    limit is 20), and so is a long string in a row whose causes are within theirs."""
    few = factories.household("vil-1", causes=[1] * 21, head_name="x")
    long = factories.household("vil-1", head_name="x" * (limits.MAX_STRING_CHARS + 1))
    both = factories.household("vil-1", causes=[1] * 21, head_name="x" * 1001)
    fine = [factories.household("vil-1") for _ in range(3)]
    request = api.ImportHouseholdsRequest(households=[*fine, few, long, both])
    with pytest.raises(limits.InvalidArgument) as refused:
        limits.check(request)
    assert [v.field for v in refused.value.violations] == [
        "households[3].causes",
        "households[4].head_name",
        "households[5].head_name",  # both, in the order the fields are declared
        "households[5].causes",
    ]
    limits.check(api.ImportHouseholdsRequest(households=fine))


def test_a_run_starting_calls_limits_are_walked_off_the_event_loop(channel, monkeypatch):
    """An inline problem is megabytes: its input-limit walk (0.04-0.12 s at 100,000 listings)
    ran on the event loop, holding every other call's reads and writes. It runs on a wait
    worker now, and a request beyond a limit is still INVALID_ARGUMENT naming the field."""
    import asyncio

    from server import interceptor

    where: list[str] = []
    walk = limits.check

    def check(request):
        try:
            asyncio.get_running_loop()
            where.append("loop")
        except RuntimeError:
            where.append("thread")
        walk(request)

    monkeypatch.setattr(interceptor.limits, "check", check)
    matcher = mpb_grpc.MatcherServiceStub(channel)
    problem = mpb.ProduceProblem(
        listings=[inline_listing("a", 10)], orders=[inline_order("o", 10)], today="2020-05-10"
    )
    run = matcher.MatchProduce(mpb.MatchProduceRequest(inline=problem), timeout=60)
    assert run.state == mpb.PROPOSED
    assert where == ["thread"]
    problem.listings[0].grade = "A" * 1001
    _invalid(
        lambda: matcher.MatchProduce(mpb.MatchProduceRequest(inline=problem), timeout=60),
        ["inline.listings[0].grade"],
    )
    assert where == ["thread", "thread"]
