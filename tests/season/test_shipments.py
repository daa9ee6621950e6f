"""Shipments on the real databases: opened by the commit, moved step by step, raced."""

from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from registry.access.policy import INTERNAL
from registry.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from registry.ledger import chain as ledger
from registry.resources.query import parse_page
from registry.season import models, shipments
from tests.season.conftest import column, ledger_kinds


def by_order(store, season) -> dict[str, models.Shipment]:
    rows, _ = shipments.list_shipments(store, page=parse_page(0, "", ""), run_id=season.run_id)
    return {r.order_id: r for r in rows}


def step_args(request_id: str = "", fingerprint: str = "f") -> dict:
    return {"reader": INTERNAL, "request_id": request_id, "fingerprint": fingerprint}


def test_commit_opens_one_shipment_per_allocation(server, season):
    """Four allocations make four COMMITTED shipments with producer, buyer and order price."""
    rows = by_order(server.store, season)
    assert sorted(r.kg for r in rows.values()) == [100, 200, 300, 400]
    assert {r.state for r in rows.values()} == {models.COMMITTED}
    assert {(r.producer_id, r.buyer_id, r.price_fen) for r in rows.values()} == {
        (season.producer_id, season.buyer_id, 300)
    }


def test_cancel_returns_kilograms_once(server, season):
    """A cancellation gives the kilograms back to the listing and the order; a second is refused."""
    store, first = server.store, season.order_ids[0]
    shipment = by_order(store, season)[first]
    shipments.cancel(store, shipment.id, "truck broke down", **step_args())
    assert column(store, "listing", "reserved_kg", season.listing_id) == 900
    assert column(store, "purchase_order", "filled_kg", first) == 0
    with pytest.raises(FailedPrecondition, match="SHIPMENT_CANCELLED"):
        shipments.cancel(store, shipment.id, "again", **step_args())
    assert column(store, "listing", "reserved_kg", season.listing_id) == 900
    assert ledger_kinds(store).count(shipments.CANCEL_ENTRY) == 1


def test_receipt_above_what_was_shipped_stores_nothing(server, season):
    """received + rejected above kg: INVALID_ARGUMENT naming the field; state and ledger kept."""
    store = server.store
    shipment = by_order(store, season)[season.order_ids[0]]
    shipments.dispatch(store, shipment.id, **step_args())
    before = ledger_kinds(store)
    with pytest.raises(InvalidArgument) as caught:
        shipments.receive(store, shipment.id, shipments.Receipt(101, 0, 0, None), **step_args())
    assert [v.field for v in caught.value.violations] == ["received_kg"]
    with pytest.raises(InvalidArgument) as caught:
        shipments.receive(store, shipment.id, shipments.Receipt(90, 20, 1, None), **step_args())
    assert [v.field for v in caught.value.violations] == ["rejected_kg"]
    assert shipments.get_shipment(store, shipment.id).state == models.DISPATCHED
    assert ledger_kinds(store) == before


def test_the_check_constraints_stand_behind_the_code(server, season):
    """Writing an impossible receipt straight into the table is refused by the database."""
    shipment = by_order(server.store, season)[season.order_ids[0]]
    with pytest.raises(IntegrityError, match="shipment_"), server.store.engine.begin() as c:
        c.execute(
            text("UPDATE shipment SET state = 3, received_kg = 150 WHERE id = :i"),
            {"i": shipment.id},
        )


def test_a_request_id_replays_and_is_not_reused(server, season):
    """A retried dispatch changes nothing; the same id for another shipment is ALREADY_EXISTS."""
    store = server.store
    rows = by_order(store, season)
    one, two = rows[season.order_ids[0]], rows[season.order_ids[1]]
    shipments.dispatch(store, one.id, **step_args("d-1", "fp-one"))
    again = shipments.dispatch(store, one.id, **step_args("d-1", "fp-one"))
    assert again.state == models.DISPATCHED
    assert ledger_kinds(store).count(shipments.DISPATCH_ENTRY) == 1
    with pytest.raises(AlreadyExists):
        shipments.dispatch(store, two.id, **step_args("d-1", "fp-two"))
    assert shipments.get_shipment(store, two.id).state == models.COMMITTED


def test_twenty_parallel_steps_never_release_or_count_twice(server, season):
    """20 threads race to cancel, dispatch and receive the listing's four shipments: each
    shipment is cancelled or received at most once, and the listing, orders and ledger agree."""
    store = server.store
    rows = list(by_order(store, season).values())
    barrier = threading.Barrier(20)
    wins: list[tuple[str, str]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        rng = random.Random(worker)
        barrier.wait()
        for attempt in range(6):
            row = rows[rng.randrange(len(rows))]
            verb = rng.choice(["cancel", "dispatch", "receive"])
            args = step_args(f"w{worker}-{attempt}", f"{worker}-{attempt}")
            try:
                if verb == "cancel":
                    shipments.cancel(store, row.id, "buyer withdrew", **args)
                elif verb == "dispatch":
                    shipments.dispatch(store, row.id, **args)
                else:
                    receipt = shipments.Receipt(row.kg - 10, 10, models.REJECT_GRADE, 280)
                    shipments.receive(store, row.id, receipt, **args)
            except FailedPrecondition:
                continue
            except Exception as exc:  # anything else fails the test below
                with lock:
                    errors.append(repr(exc))
                continue
            with lock:
                wins.append((verb, row.id))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    final = {r.id: shipments.get_shipment(store, r.id) for r in rows}
    for verb in ("cancel", "dispatch", "receive"):
        won = [sid for v, sid in wins if v == verb]
        assert len(won) == len(set(won)), f"a shipment was {verb}ed twice"
    cancelled = [s for s in final.values() if s.state == models.CANCELLED]
    received = [s for s in final.values() if s.state == models.RECEIVED]
    assert column(store, "listing", "reserved_kg", season.listing_id) == 1000 - sum(
        s.kg for s in cancelled
    )
    for s in final.values():
        filled = column(store, "purchase_order", "filled_kg", s.order_id)
        assert filled == (0 if s.state == models.CANCELLED else s.kg)
    kinds = ledger_kinds(store)
    assert kinds.count(shipments.CANCEL_ENTRY) == len(cancelled)
    assert kinds.count(shipments.RECEIPT_ENTRY) == len(received)
    assert kinds.count(shipments.REJECTION_ENTRY) == len(received)
    assert sum(s.received_kg + s.rejected_kg for s in received) == sum(s.kg for s in received)
    with store.transaction() as session:
        assert ledger.first_broken(session) is None
