"""MatcherClient against a real server on a loopback port: inline and selection solves with
progress, quick source, get/list/commit/discard/cancel, errors with field violations."""

from __future__ import annotations

import time

import pytest

from clients.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from clients.matcher_client import MatcherClient
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from tests.matcher.service.test_service import inline_listing, inline_order, plums  # noqa: F401

SELECTION = mpb.RegistrySelection(product="green_plum", today="2020-05-10")


@pytest.fixture
def matcher(server):
    with MatcherClient(f"127.0.0.1:{server.port}", timeout_s=10, solve_timeout_s=60) as client:
        yield client


def test_inline_match(matcher):
    problem = mpb.ProduceProblem(
        listings=[inline_listing("poor", 1000)],
        orders=[inline_order("plant", 600)],
        today="2020-05-10",
    )
    run = matcher.match_produce(inline=problem)
    assert run.state == mpb.PROPOSED
    assert [(a.listing_id, a.order_id, a.kg) for a in run.produce.allocations] == [
        ("poor", "plant", 600)
    ]


def test_selection_with_progress_then_commit(matcher, plums):  # noqa: F811
    progress = matcher.match_produce(selection=SELECTION, watch=True)
    events = list(progress)
    run = progress.run()
    assert run.state == mpb.PROPOSED
    assert matcher.get(progress.run_id).id == run.id  # the chosen run_id names it for this key
    assert events[-1].state == mpb.PROPOSED and events[-1].run.id == run.id
    assert matcher.get(run.id).id == run.id
    assert run.id in [r.id for r in matcher.list(filter="kind = PRODUCE AND state = PROPOSED")]
    committed = matcher.commit(run.id, request_id="commit-once")
    assert committed.state == mpb.COMMITTED
    assert matcher.commit(run.id, request_id="commit-once").state == mpb.COMMITTED
    with pytest.raises(FailedPreconditionError):
        matcher.discard(run.id)


def test_discard_and_errors(matcher, plums):  # noqa: F811
    run = matcher.match_produce(selection=SELECTION)
    assert matcher.discard(run.id).state == mpb.DISCARDED
    with pytest.raises(NotFoundError):
        matcher.get("run-none")
    bad = mpb.ProduceProblem(
        listings=[inline_listing("a", -5)], orders=[inline_order("o", 10)], today="2020-05-10"
    )
    with pytest.raises(InvalidArgumentError) as caught:
        matcher.match_produce(inline=bad)
    assert [f for f, _ in caught.value.field_violations] == ["inline.listings[0].quantity_kg"]
    with pytest.raises(ValueError, match="inline or selection"):
        matcher.match_produce()


def test_quick_source(matcher, plums):  # noqa: F811
    listing, _ = plums
    # Quick sourcing reads a copy of open supply refreshed every second: until it refreshes,
    # it may still hold the listings of an earlier test (the fixture empties the tables).
    for _ in range(100):
        found = matcher.quick_source(inline_order("", 300), today="2020-05-10")
        if [c.listing_id for c in found.candidates] == [listing.id]:  # no earlier test's left
            break
        time.sleep(0.1)
    assert [c.listing_id for c in found.candidates] == [listing.id]
