"""Deadlines and cancellation of produce runs, on an instance CP-SAT cannot close quickly."""

from __future__ import annotations

import contextlib
import random
import threading
import time

import grpc
import pytest

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api

pytestmark = pytest.mark.slow


def hard_problem(seed: int = 1, n: int = 80, m: int = 40) -> mpb.ProduceProblem:
    """Minimum order quantities, minimum lots and per-truck fixed costs on half the lanes."""
    rng = random.Random(seed)

    def at() -> dict:
        return {"location": {"latitude": rng.uniform(23, 24.5), "longitude": rng.uniform(116, 118)}}

    listings = [
        mpb.InlineListing(
            id=f"L{i}",
            product="green_plum",
            grade="A",
            quantity_kg=rng.randint(50, 400),
            floor_price_fen=rng.randint(100, 200),
            available_from="2020-05-05",
            available_until="2020-05-30",
            shelf_life_days=10,
            **at(),
        )
        for i in range(n)
    ]
    orders = [
        mpb.InlineOrder(
            id=f"O{j}",
            product="green_plum",
            accepted_grades=["A"],
            min_quantity_kg=rng.randint(100, 600),
            max_quantity_kg=rng.randint(600, 1200),
            price_fen=rng.randint(220, 320),
            deliver_by="2020-06-10",
            **at(),
        )
        for j in range(m)
    ]
    lanes = [
        mpb.Lane(
            listing_id=f"L{i}",
            order_id=f"O{j}",
            cost_fen_per_kg=rng.randint(1, 30),
            transit_days=1,
            min_lot_kg=rng.choice([0, 50, 100]),
            fixed_cost_fen=rng.randint(500, 5000),
            truck_capacity_kg=rng.choice([100, 150, 200]),
        )
        for i in range(n)
        for j in range(m)
        if rng.random() < 0.5
    ]
    return mpb.ProduceProblem(listings=listings, orders=orders, lanes=lanes, today="2020-05-10")


@pytest.fixture
def matcher(channel):
    return mpb_grpc.MatcherServiceStub(channel)


def test_deadline_returns_the_best_solution_found(matcher):
    """A 60 s time limit under an 8 s deadline answers in time with a FEASIBLE solution."""
    request = mpb.MatchProduceRequest(
        inline=hard_problem(), parameters=mpb.SolveParameters(time_limit_s=60)
    )
    started = time.monotonic()
    run = matcher.MatchProduce(request, timeout=8)
    assert time.monotonic() - started < 8
    assert run.state == mpb.PROPOSED
    assert run.status == mpb.FEASIBLE
    assert run.produce.exact
    assert run.produce.allocations
    assert run.best_bound >= run.objective


def test_cancel_stops_a_running_solve_and_the_server_keeps_answering(matcher, registry):
    """While a solve runs the server answers other calls; cancelling ends the run CANCELLED."""
    request = mpb.MatchProduceRequest(
        inline=hard_problem(2), parameters=mpb.SolveParameters(time_limit_s=60), run_id="cancel-me"
    )
    answer: dict[str, mpb.MatchRun] = {}
    caller = threading.Thread(
        target=lambda: answer.update(run=matcher.MatchProduce(request, timeout=90))
    )
    caller.start()
    for _ in range(200):
        try:
            if matcher.GetMatchRun(mpb.GetMatchRunRequest(id="cancel-me")).state == mpb.RUNNING:
                break
        except Exception:  # not created yet
            pass
        time.sleep(0.05)
    registry.ListVillages(api.ListVillagesRequest(), timeout=2)  # the solve holds no server thread
    cancelled = matcher.CancelMatchRun(mpb.CancelMatchRunRequest(id="cancel-me"), timeout=30)
    assert cancelled.state == mpb.CANCELLED
    caller.join(30)
    assert answer["run"].state == mpb.CANCELLED


def test_a_caller_that_goes_away_cancels_its_run(matcher):
    """The caller's wait is a coroutine on the server's loop (server/loop.py): when the caller
    cancels its call, the solve is cancelled and the run ends CANCELLED, not left RUNNING."""
    request = mpb.MatchProduceRequest(
        inline=hard_problem(3), parameters=mpb.SolveParameters(time_limit_s=60), run_id="leave-me"
    )
    call = matcher.MatchProduce.future(request, timeout=90)
    state = None
    for _ in range(400):
        with contextlib.suppress(grpc.RpcError):  # not created yet
            state = matcher.GetMatchRun(mpb.GetMatchRunRequest(id="leave-me")).state
        if state == mpb.RUNNING:
            break
        time.sleep(0.05)
    assert state == mpb.RUNNING
    call.cancel()
    for _ in range(600):
        state = matcher.GetMatchRun(mpb.GetMatchRunRequest(id="leave-me")).state
        if state != mpb.RUNNING:
            break
        time.sleep(0.05)
    assert state == mpb.CANCELLED
