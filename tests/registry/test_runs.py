"""Run records and the produce commit, on the real databases."""

from __future__ import annotations

import threading

import grpc
import pytest
from sqlalchemy import text

from fupin.registry.v1 import registry_service_pb2 as api
from registry.errors import Aborted, FailedPrecondition
from registry.ledger import chain as ledger
from registry.ledger import guard as ledger_guard
from registry.runs import data, produce, records
from tests import factories


@pytest.fixture
def market(registry):
    """Two listings of 1,000 kg and two orders of 1,500 kg."""
    village = factories.create_village(registry)
    hh = factories.create_household(registry, village.id)
    producer = registry.CreateProducer(
        api.CreateProducerRequest(producer=factories.producer_for(hh.id))
    )
    buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    listings = [
        registry.CreateListing(
            api.CreateListingRequest(listing=factories.listing(producer.id, quantity_kg=1000))
        ).id
        for _ in range(2)
    ]
    orders = [
        registry.CreateOrder(
            api.CreateOrderRequest(order=factories.order(buyer.id, max_quantity_kg=1500))
        ).id
        for _ in range(2)
    ]
    return listings, orders


def proposed(store, allocations, run_id=None):
    """A PROPOSED produce run holding these (listing, order, kg) allocations."""
    run_id = run_id or f"run-{len(allocations)}-{id(allocations)}"
    records.create_run(store, run_id=run_id, kind=produce.PRODUCE_KIND, parameters=b"", owner="t")
    allocs = [data.Allocation(*a) for a in allocations]
    records.update_run(store, run_id, state=data.RunState.PROPOSED, allocations=allocs)
    return run_id


def reserved(store, table, column):
    with store.engine.connect() as conn:
        return dict(conn.execute(text(f"SELECT id, {column} FROM {table}")).all())


def test_commit_reserves_and_fills(server, market):
    """A commit adds each allocation to reserved_kg and filled_kg and writes the ledger."""
    (l1, l2), (o1, o2) = market
    run_id = proposed(server.store, [(l1, o1, 600), (l1, o2, 400), (l2, o2, 250)])
    run = produce.commit_produce(server.store, run_id)
    assert run.state == data.RunState.COMMITTED
    assert reserved(server.store, "listing", "reserved_kg") == {l1: 1000, l2: 250}
    assert reserved(server.store, "purchase_order", "filled_kg") == {o1: 600, o2: 650}
    with server.store.transaction() as session:
        assert ledger.first_broken(session) is None
        count = session.execute(text("SELECT count(*) FROM ledger_entry")).scalar_one()
    assert count == 3


def test_commit_that_no_longer_fits_is_aborted(server, market):
    """When another commit took the kilograms, the second is ABORTED naming the listing."""
    (l1, _), (o1, o2) = market
    first = proposed(server.store, [(l1, o1, 700)], "run-a")
    second = proposed(server.store, [(l1, o2, 700)], "run-b")
    produce.commit_produce(server.store, first)
    with pytest.raises(Aborted) as caught:
        produce.commit_produce(server.store, second)
    assert [v.field for v in caught.value.violations] == [f"listings[{l1}]"]
    assert reserved(server.store, "listing", "reserved_kg")[l1] == 700
    assert records.get_run(server.store, second).state == data.RunState.PROPOSED


def test_commit_is_idempotent_by_request_id(server, market):
    """A retried commit returns the committed run; a second commit without it is refused."""
    (l1, _), (o1, _) = market
    run_id = proposed(server.store, [(l1, o1, 100)])
    produce.commit_produce(server.store, run_id, request_id="c-1")
    again = produce.commit_produce(server.store, run_id, request_id="c-1")
    assert again.state == data.RunState.COMMITTED
    assert reserved(server.store, "listing", "reserved_kg")[l1] == 100
    with pytest.raises(FailedPrecondition):
        produce.commit_produce(server.store, run_id)


def test_parallel_commits_never_oversell(server, market):
    """20 commits of 100 kg each race for one 1,000 kg listing: exactly 10 succeed."""
    (l1, _), (o1, o2) = market
    ids = [proposed(server.store, [(l1, (o1, o2)[i % 2], 100)], f"race-{i}") for i in range(20)]
    outcomes: list[str] = []
    barrier = threading.Barrier(20)

    def commit(run_id: str) -> None:
        barrier.wait()
        try:
            produce.commit_produce(server.store, run_id)
            outcomes.append("ok")
        except Aborted:
            outcomes.append("aborted")

    threads = [threading.Thread(target=commit, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["aborted"] * 10 + ["ok"] * 10
    assert reserved(server.store, "listing", "reserved_kg")[l1] == 1000


def test_ledger_detects_an_altered_entry(server, market):
    """Changing a committed quantity directly in the database breaks the chain at that entry."""
    (l1, l2), (o1, _) = market
    produce.commit_produce(server.store, proposed(server.store, [(l1, o1, 10), (l2, o1, 20)]))
    with server.store.engine.begin() as conn, ledger_guard.suspended(conn):  # as an owner would
        seqs = [r[0] for r in conn.execute(text("SELECT seq FROM ledger_entry ORDER BY seq"))]
        conn.execute(text("UPDATE ledger_entry SET quantity = 999 WHERE seq = :s"), {"s": seqs[1]})
    with server.store.transaction() as session:
        assert ledger.first_broken(session) == seqs[1]


def test_discard_only_proposed(server, market):
    """A proposed run can be discarded once; then it is neither committable nor discardable."""
    (l1, _), (o1, _) = market
    run_id = proposed(server.store, [(l1, o1, 10)])
    assert records.discard_run(server.store, run_id).state == data.RunState.DISCARDED
    with pytest.raises(FailedPrecondition):
        records.discard_run(server.store, run_id)
    with pytest.raises(FailedPrecondition):
        produce.commit_produce(server.store, run_id)


def test_commit_with_many_shortfalls_stays_aborted_over_grpc(server, channel):
    """300 shortfalls: ABORTED with the first 30 as field violations (all of them overflowed
    gRPC's 8 KB trailer limit, and the caller saw RESOURCE_EXHAUSTED instead)."""
    from fupin.matcher.v1 import matcher_service_pb2 as mpb
    from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
    from tests.rpcerrors import fields_of, rpc_fails

    gone = [(f"lst-gone-{i:030d}", f"ord-gone-{i:030d}", 5) for i in range(150)]
    run_id = proposed(server.store, gone, "run-many")
    stub = mpb_grpc.MatcherServiceStub(channel)
    error = rpc_fails(
        lambda: stub.CommitMatchRun(mpb.CommitMatchRunRequest(id=run_id), timeout=30),
        grpc.StatusCode.ABORTED,
    )
    fields = fields_of(error)
    assert len(fields) == produce.MAX_REPORTED_SHORTFALLS == 30
    assert fields[0] == f"listings[{gone[0][0]}]"
    assert "and 290 more" in error.details()
