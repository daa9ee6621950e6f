"""A run's answer as MatchRunView asks, and a produce run's lists page by page, over a real
server (and the view rules on their own, with a message limit small enough to reach)."""

from __future__ import annotations

import grpc
import pytest

from clients.matcher_client import MatcherClient
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import resources_pb2 as pb
from matcher.service import views
from registry.errors import FailedPrecondition
from tests.rpcerrors import fields_of, rpc_fails

ZHAOAN = pb.LatLng(latitude=23.71, longitude=117.18)
PUNING = pb.LatLng(latitude=23.30, longitude=116.17)


@pytest.fixture
def matcher(channel):
    return mpb_grpc.MatcherServiceStub(channel)


def problem(listings: int, orders: int) -> mpb.ProduceProblem:
    """``listings`` of 100 kg, ``orders`` of 100 kg each: the first ``orders`` listings sell
    (the floor rises with the index, so lower indices are worth more), the rest are unsold."""
    return mpb.ProduceProblem(
        listings=[
            mpb.InlineListing(
                id=f"L{i:03d}",
                product="green_plum",
                grade="A",
                quantity_kg=100,
                floor_price_fen=100 + i,
                location=ZHAOAN,
                available_from="2020-05-01",
                available_until="2020-05-31",
                shelf_life_days=10,
            )
            for i in range(listings)
        ],
        orders=[
            mpb.InlineOrder(
                id=f"O{j}",
                product="green_plum",
                accepted_grades=["A"],
                max_quantity_kg=100,
                price_fen=260,
                location=PUNING,
                deliver_by="2020-06-10",
            )
            for j in range(orders)
        ],
        today="2020-05-10",
    )


def solved(matcher, view: int = mpb.MATCH_RUN_VIEW_UNSPECIFIED) -> mpb.MatchRun:
    request = mpb.MatchProduceRequest(inline=problem(7, 5), view=view)  # type: ignore[arg-type]
    run = matcher.MatchProduce(request, timeout=60)
    assert run.state == mpb.PROPOSED
    return run


def test_a_small_run_answers_in_full_by_default(matcher):
    """Unset view: a run that fits answers whole, with its counts; FULL is the same answer."""
    run = solved(matcher)
    result = run.produce
    assert not result.lists_omitted
    assert (len(result.allocations), len(result.unsold)) == (5, 2)
    assert (result.allocation_count, result.unsold_count) == (5, 2)
    full = matcher.GetMatchRun(mpb.GetMatchRunRequest(id=run.id, view=mpb.FULL))
    assert full == run


def test_summary_leaves_out_the_lists_and_keeps_the_figures(matcher):
    """SUMMARY: no allocations nor unsold, but the counts, KPIs and order outcomes."""
    full = solved(matcher)
    summary = solved(matcher, mpb.SUMMARY)
    result = summary.produce
    assert result.lists_omitted and not result.allocations and not result.unsold
    assert (result.allocation_count, result.unsold_count) == (5, 2)
    assert result.kpis == full.produce.kpis and result.kpis.kg_sold == 500
    assert len(result.orders) == 5 and summary.objective == full.objective
    again = matcher.GetMatchRun(mpb.GetMatchRunRequest(id=full.id, view=mpb.SUMMARY))
    assert again.produce.lists_omitted and again.produce.allocation_count == 5


def test_allocations_page_in_the_order_of_the_result(matcher):
    """Pages of 2 give the allocations of the full answer, in order, then no token."""
    run = solved(matcher)
    seen, token, pages = [], "", 0
    while True:
        request = mpb.ListRunAllocationsRequest(parent=run.id, page_size=2, page_token=token)
        page = matcher.ListRunAllocations(request)
        assert page.total_size == 5
        seen += page.allocations
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 3 and seen == list(run.produce.allocations)
    unsold = matcher.ListRunUnsold(mpb.ListRunUnsoldRequest(parent=run.id))
    assert list(unsold.unsold) == list(run.produce.unsold) and not unsold.next_page_token


def test_the_client_completes_a_summary(server, matcher):
    """MatcherClient.complete pages a summary's lists back in: the full answer again."""
    full = solved(matcher)
    with MatcherClient(f"127.0.0.1:{server.port}") as client:
        summary = client.get(full.id, view=mpb.SUMMARY)
        assert summary.produce.lists_omitted
        assert client.complete(summary) == full
        assert [a.listing_id for a in client.allocations(full.id)] == [
            a.listing_id for a in full.produce.allocations
        ]


def test_bad_page_requests_name_the_field(matcher):
    """A page_size over 10,000, a made-up token, or another run's token: INVALID_ARGUMENT."""
    run, other = solved(matcher), solved(matcher)
    too_big = mpb.ListRunAllocationsRequest(parent=run.id, page_size=10_001)
    error = rpc_fails(lambda: matcher.ListRunAllocations(too_big), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == ["page_size"]
    made_up = mpb.ListRunAllocationsRequest(parent=run.id, page_token="abc.def")
    error = rpc_fails(lambda: matcher.ListRunAllocations(made_up), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == ["page_token"]
    first = matcher.ListRunAllocations(mpb.ListRunAllocationsRequest(parent=run.id, page_size=1))
    borrowed = mpb.ListRunAllocationsRequest(
        parent=other.id, page_size=1, page_token=first.next_page_token
    )
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    error = rpc_fails(lambda: matcher.ListRunAllocations(borrowed), invalid)
    assert fields_of(error) == ["page_token"]
    unsold = mpb.ListRunUnsoldRequest(parent=run.id, page_token=first.next_page_token)
    error = rpc_fails(lambda: matcher.ListRunUnsold(unsold), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == ["page_token"]


def test_an_unknown_view_is_refused_before_solving(matcher):
    """view 9: INVALID_ARGUMENT naming view, and no run is stored."""
    request = mpb.MatchProduceRequest(inline=problem(2, 1), view=9)  # type: ignore[arg-type]
    error = rpc_fails(lambda: matcher.MatchProduce(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == ["view"]
    assert not matcher.ListMatchRuns(mpb.ListMatchRunsRequest()).runs


def test_unknown_runs_are_not_found(matcher):
    """Paging a run that does not exist: NOT_FOUND."""
    request = mpb.ListRunAllocationsRequest(parent="run-nope")
    rpc_fails(lambda: matcher.ListRunAllocations(request), grpc.StatusCode.NOT_FOUND)


# --- the rules on their own, with a limit a test can pass -----------------------------------


def _stored(allocations: int) -> mpb.MatchRun:
    run = mpb.MatchRun(id="run-big", kind=mpb.PRODUCE, state=mpb.PROPOSED)
    for i in range(allocations):
        run.produce.allocations.add(listing_id=f"L{i:06d}", order_id="O1", kg=100)
    run.produce.unsold.add(listing_id="L-unsold", unsold_kg=5)
    run.produce.kpis.kg_sold = 100 * allocations
    return run


def test_over_the_limit_the_default_answer_is_the_summary():
    """Unset view over the message limit: the summary, with the counts; under it, in full."""
    limit = views.ANSWER_MARGIN + 10_000
    big = views.answer(_stored(1000), mpb.MATCH_RUN_VIEW_UNSPECIFIED, limit)
    assert big.produce.lists_omitted and not big.produce.allocations
    assert (big.produce.allocation_count, big.produce.unsold_count) == (1000, 1)
    assert big.produce.kpis.kg_sold == 100_000
    small = views.answer(_stored(10), mpb.MATCH_RUN_VIEW_UNSPECIFIED, limit)
    assert not small.produce.lists_omitted and len(small.produce.allocations) == 10


def test_full_over_the_limit_is_a_failed_precondition():
    """FULL over the limit is refused, naming the run and what to ask for instead."""
    with pytest.raises(FailedPrecondition, match="ask for view SUMMARY"):
        views.answer(_stored(1000), mpb.FULL, views.ANSWER_MARGIN + 10_000)
    assert len(views.answer(_stored(10), mpb.FULL, 1 << 20).produce.allocations) == 10
