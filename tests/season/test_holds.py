"""Checkout holds on the real databases: held kilograms count as taken, a hold is confirmed
into an order and shipments, released or expired (an injected clock, no sleeps), only by the
platform that made it; 20 threads racing holds, confirmations, releases, receipts,
cancellations and a batch commit never oversell nor release twice."""

from __future__ import annotations

import datetime as dt
import random
import threading

import grpc
import pytest

from clients.auth import open_channel
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc
from registry.access.policy import INTERNAL, Principal, Role
from registry.errors import Aborted, AlreadyExists, FailedPrecondition, NotFound
from registry.ledger import chain as ledger
from registry.resources.query import parse_page
from registry.runs import supply
from registry.runs.data import HeldKg, HoldTerms
from registry.season import holds, models, shipments
from tests import factories
from tests.matcher.service.test_service import quick_until
from tests.rpcerrors import rpc_fails
from tests.season.conftest import TERMS, column, commit_run, ledger_kinds

T0 = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)


def hold(store, stock, kg, *, request_id="", fingerprint="f", now=T0, minutes=10, terms=TERMS):
    return holds.hold_listings(
        store,
        items=[HeldKg(stock.listing_id, kg)],
        terms=terms,
        minutes=minutes,
        reader=stock.platform,
        request_id=request_id,
        fingerprint=fingerprint,
        now=now,
    )


def args(stock, request_id="", fingerprint="f", now=T0):
    return {
        "reader": stock.platform,
        "request_id": request_id,
        "fingerprint": fingerprint,
        "now": now,
    }


def reserved(store, stock) -> int:
    return column(store, "listing", "reserved_kg", stock.listing_id)


def test_held_kilograms_are_taken_until_confirmed_into_an_order_and_a_shipment(server, stock):
    """A hold of 500 kg leaves 100 kg open to runs; its confirmation is a committed run with
    one shipment filling a new order of the buyer, and the kilograms stay reserved."""
    store = server.store
    held = hold(store, stock, 500, now=models_now())
    assert (held.state, held.kg, reserved(store, stock)) == (models.HELD, 500, 900)
    (open_listing,) = supply.open_listings(store)
    assert open_listing.available_kg == 100
    done = holds.confirm(store, held.id, **args(stock, now=models_now()))
    assert done.state == models.CONFIRMED and done.run_id and done.order_id
    (row,) = shipments.list_shipments(store, page=parse_page(0, "", ""), run_id=done.run_id)[0]
    assert (row.kg, row.state, row.order_id, row.price_fen) == (
        500,
        models.COMMITTED,
        done.order_id,
        280,
    )
    assert column(store, "purchase_order", "filled_kg", done.order_id) == 500
    assert reserved(store, stock) == 900
    assert ledger_kinds(store).count("produce_commit") == 3  # the two committed, then this
    shipments.cancel(
        store, row.id, "checkout abandoned", reader=INTERNAL, request_id="", fingerprint=""
    )
    assert reserved(store, stock) == 400
    with store.transaction() as session:
        assert ledger.first_broken(session) is None


def models_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_a_hold_takes_only_what_is_free_and_a_batch_commit_sees_it(server, stock):
    """Asking 900 kg holds the 600 free; nothing is left for a second hold or a batch run."""
    store = server.store
    first = hold(store, stock, 900, now=models_now())
    assert first.kg == 600 and reserved(store, stock) == 1000
    with pytest.raises(Aborted):
        hold(store, stock, 1, now=models_now())
    with pytest.raises(Aborted):
        commit_run(store, [(stock.listing_id, stock.order_ids[0], 1)], "run-late")
    holds.release(store, first.id, **args(stock, now=models_now()))
    commit_run(store, [(stock.listing_id, stock.order_ids[0], 600)], "run-after")
    assert reserved(store, stock) == 1000


def test_a_hold_is_released_once(server, stock):
    """Release returns the kilograms; a second release or a confirmation names the state."""
    store = server.store
    held = hold(store, stock, 200, now=models_now())
    assert holds.release(store, held.id, **args(stock, now=models_now())).state == models.RELEASED
    assert reserved(store, stock) == 400
    for step in (holds.release, holds.confirm):
        with pytest.raises(FailedPrecondition, match="HOLD_RELEASED"):
            step(store, held.id, **args(stock, now=models_now()))
    assert reserved(store, stock) == 400


def test_expired_holds_return_by_themselves(server, stock):
    """Injected clock: a 5-minute hold is HELD at 4 minutes; at 6 the sweep returns it, and a
    confirmation of another expired hold is refused while returning its kilograms."""
    store = server.store
    a = hold(store, stock, 100, now=T0, minutes=5)
    b = hold(store, stock, 200, now=T0, minutes=5)
    assert holds.sweep(store, now=T0 + dt.timedelta(minutes=4)) == 0
    assert (
        holds.get_hold(store, a.id, stock.platform, now=T0 + dt.timedelta(minutes=4)).state
        == models.HELD
    )
    assert reserved(store, stock) == 700
    with pytest.raises(FailedPrecondition, match="expired"):
        holds.confirm(store, b.id, **args(stock, now=T0 + dt.timedelta(minutes=6)))
    assert reserved(store, stock) == 500  # b's 200 kg back, a's 100 still held
    assert holds.sweep(store, now=T0 + dt.timedelta(minutes=6)) == 1
    assert reserved(store, stock) == 400
    states = {h.id: h.state for h in holds.list_holds(store, reader=stock.platform, now=T0)}
    assert states == {a.id: models.EXPIRED, b.id: models.EXPIRED}
    assert holds.sweep(store, now=T0 + dt.timedelta(hours=1)) == 0


def test_only_the_platform_that_made_a_hold_sees_or_moves_it(server, stock, registry):
    """Another platform's key, or a cooperative's: NOT_FOUND, and the hold stays HELD."""
    store = server.store
    held = hold(store, stock, 100, now=models_now())
    other = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer())).id
    for reader in (Principal("k2", Role.PLATFORM, other), Principal("k3", Role.COOPERATIVE, "x")):
        for step in (holds.confirm, holds.release):
            with pytest.raises(NotFound):
                step(store, held.id, reader=reader, request_id="", fingerprint="f")
        with pytest.raises(NotFound):
            holds.get_hold(store, held.id, reader)
        assert holds.list_holds(store, reader=reader) == []
    assert holds.get_hold(store, held.id, stock.platform).state == models.HELD
    with pytest.raises(NotFound):  # and a hold may not name another buyer's order
        hold(store, stock, 1, terms=HoldTerms("green_plum", ("A",), 1, "2020-06-10", "ord-x"))


def test_a_request_id_replays_a_hold_and_its_confirmation(server, stock):
    """The same request_id answers the same hold and holds nothing more; on a different request
    it is ALREADY_EXISTS. A named order is filled by the confirmation."""
    store = server.store
    terms = HoldTerms("green_plum", ("A",), 280, "2020-06-10", stock.order_ids[0])
    first = hold(store, stock, 300, request_id="r1", terms=terms, now=models_now())
    again = hold(store, stock, 300, request_id="r1", terms=terms, now=models_now())
    assert again.id == first.id and reserved(store, stock) == 700
    with pytest.raises(AlreadyExists):
        hold(store, stock, 300, request_id="r1", fingerprint="other", now=models_now())
    done = holds.confirm(store, first.id, **args(stock, "c1", now=models_now()))
    replay = holds.confirm(store, first.id, **args(stock, "c1", now=models_now()))
    assert replay.run_id == done.run_id and done.order_id == stock.order_ids[0]
    assert column(store, "purchase_order", "filled_kg", stock.order_ids[0]) == 400


def test_twenty_parallel_holds_confirms_releases_receipts_and_cancels(server, stock):
    """20 threads on one listing hold, confirm, release, dispatch, receive and cancel, and one
    commits a batch run: the listing's reserved_kg is exactly its live shipments plus its
    HELD holds, never above its quantity; no hold ends twice; the ledger verifies."""
    store = server.store
    barrier = threading.Barrier(20)
    errors: list[str] = []
    ended: list[tuple[str, str]] = []
    lock = threading.Lock()
    now = models_now

    def act(rng: random.Random, worker: int, attempt: int) -> None:
        mine = holds.list_holds(store, reader=stock.platform, state=models.HELD)
        live = shipments.list_shipments(
            store, page=parse_page(0, "", ""), listing_id=stock.listing_id
        )[0]
        verb = rng.choice(
            ["hold", "hold", "confirm", "release", "dispatch", "receive", "cancel", "commit"]
        )
        rid = f"w{worker}-{attempt}"
        if verb == "hold":
            hold(store, stock, rng.randint(1, 150), request_id=rid, fingerprint=rid, now=now())
        elif verb in ("confirm", "release") and mine:
            target = rng.choice(mine)
            step = holds.confirm if verb == "confirm" else holds.release
            step(store, target.id, **args(stock, rid, rid, now()))
            with lock:
                ended.append((verb, target.id))
        elif verb == "commit":
            commit_run(
                store, [(stock.listing_id, stock.order_ids[1], rng.randint(1, 100))], f"run-{rid}"
            )
        elif live and verb in ("dispatch", "receive", "cancel"):
            row = rng.choice(live)
            step_args = {"reader": INTERNAL, "request_id": rid, "fingerprint": rid}
            if verb == "dispatch":
                shipments.dispatch(store, row.id, **step_args)
            elif verb == "receive":
                receipt = shipments.Receipt(row.kg - 1, 1, models.REJECT_GRADE, None)
                shipments.receive(store, row.id, receipt, **step_args)
            else:
                shipments.cancel(store, row.id, "raced", **step_args)

    def work(worker: int) -> None:
        rng = random.Random(worker)
        barrier.wait()
        for attempt in range(6):
            try:
                act(rng, worker, attempt)
            except (FailedPrecondition, Aborted):
                continue
            except Exception as exc:  # anything else fails the test below
                with lock:
                    errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert errors == []
    assert len(ended) == len({hold_id for _verb, hold_id in ended}), "a hold ended twice"
    assert {verb for verb, _ in ended} == {"confirm", "release"}  # both raced
    assert_balanced(store, stock)
    with store.transaction() as session:
        assert ledger.first_broken(session) is None


def assert_balanced(store, stock) -> None:
    """reserved_kg = live shipments' kg + HELD holds' kg <= quantity, from the rows."""
    rows = shipments.list_shipments(
        store, page=parse_page(1000, "", ""), listing_id=stock.listing_id
    )[0]
    live = sum(r.kg for r in rows if r.state != models.CANCELLED)
    held = sum(
        i.kg
        for h in holds.list_holds(store, reader=INTERNAL, state=models.HELD)
        for i in h.items
        if i.listing_id == stock.listing_id
    )
    assert reserved(store, stock) == live + held <= 1000
    for r in rows:
        assert r.received_kg + r.rejected_kg <= r.kg


def test_quick_source_holds_and_the_platform_confirms_over_grpc(server, stock, registry):
    """QuickSource with `hold` through a real server, as the buyer's platform: the suggested
    kilograms are held, another platform cannot see the hold, its own confirms it."""
    secret = server.keys.create(Role.PLATFORM, stock.buyer_id).secret
    with open_channel(f"127.0.0.1:{server.port}", api_key=secret) as channel:
        matcher = mpb_grpc.MatcherServiceStub(channel)
        season = spb_grpc.SeasonServiceStub(channel)
        order = mpb.InlineOrder(
            product="green_plum",
            accepted_grades=["A"],
            max_quantity_kg=250,
            price_fen=280,
            location=factories.buyer().location,
            deliver_by="2020-06-10",
        )
        hold_options = mpb.HoldOptions(minutes=5, request_id="checkout-1")
        request = mpb.QuickSourceRequest(order=order, today="2020-05-10", hold=hold_options)
        # The matcher's copy of open supply follows the registry within a second.
        quick_until(
            matcher,
            mpb.QuickSourceRequest(order=order, today="2020-05-10"),
            lambda ids: ids == [stock.listing_id],
        )
        answer = matcher.QuickSource(request, timeout=30)
        assert [(c.listing_id, c.suggested_kg) for c in answer.candidates] == [
            (stock.listing_id, 250)
        ]
        assert (answer.hold.state, answer.hold.kg) == (spb.HOLD_HELD, 250)
        assert matcher.QuickSource(request, timeout=30).hold.id == answer.hold.id  # a retry
        assert reserved(server.store, stock) == 650
        other_buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer())).id
        other = server.keys.create(Role.PLATFORM, other_buyer).secret
        with open_channel(f"127.0.0.1:{server.port}", api_key=other) as foreign:
            rpc_fails(
                lambda: spb_grpc.SeasonServiceStub(foreign).ConfirmHold(
                    spb.ConfirmHoldRequest(id=answer.hold.id)
                ),
                grpc.StatusCode.NOT_FOUND,
            )
        listed = season.ListHolds(spb.ListHoldsRequest(state=spb.HOLD_HELD)).holds
        assert [h.id for h in listed] == [answer.hold.id]
        done = season.ConfirmHold(spb.ConfirmHoldRequest(id=answer.hold.id, request_id="c-1"))
        assert done.state == spb.HOLD_CONFIRMED and done.run_id
        shipped = season.ListShipments(spb.ListShipmentsRequest(run_id=done.run_id)).shipments
        assert [(s.kg, s.buyer_id) for s in shipped] == [(250, stock.buyer_id)]
        rpc_fails(
            lambda: season.ReleaseHold(spb.ReleaseHoldRequest(id=answer.hold.id)),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        tea = mpb.QuickSourceRequest(order=order, today="2020-05-10", hold=hold_options)
        tea.order.product, tea.hold.request_id = "tea", "checkout-2"
        rpc_fails(lambda: matcher.QuickSource(tea, timeout=30), grpc.StatusCode.ABORTED)
