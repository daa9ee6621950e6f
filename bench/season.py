"""The season after the match on PostgreSQL: a 10,000 listings x 200 orders produce run
committed, then every shipment dispatched, received, paid for and (a cooperative's) paid out
to its members by 32 concurrent gRPC clients against a real server process.

    python bench/season.py [--listings 10000] [--orders 200] [--clients 32] [--processes 4]
                           [--postgres-url URL] [--seed 1]

Prints one JSON line: bench, shipments, events (calls that recorded something: dispatches,
receipts, payments, dividend payouts), events_per_s (over the concurrent phase), p99_ms (of
those calls), double_counted_kg and ledger_verified, then the phases' seconds and the load
average. double_counted_kg is computed from the database after the run, apart from the
counters the steps maintain (bench/season_audit.py): per shipment, kilograms received +
rejected + cancelled beyond what was shipped, and the ledger's receipt and rejection
kilograms against the shipment's; per listing, reserved_kg against its live shipments and
held kilograms. ledger_verified: VerifyLedger finds the hash chain unbroken.

`--listings 300 --orders 20 --clients 8` is the correctness check the test suite runs
(tests/season/test_season_bench.py), without timing assertions.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from bench import data, market
from bench.common import say
from bench.registry import KEY_FILE, POSTGRES_ADMIN_URL, database, server_process
from bench.season_audit import double_counted_kg
from clients import auth
from clients.client import BUYERS, HOUSEHOLDS, LISTINGS, ORDERS, PRODUCERS, RegistryClient
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc
from fupin.registry.v1 import resources_pb2 as pb
from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc

TODAY = "2020-05-20"
COOPERATIVES = 150  # of 3-6 member households; as many household growers
# (shipment id, producer id, kg, the order's price, whether the producer is a cooperative)
Work = tuple[str, str, int, int, bool]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--processes", type=int, default=4, help="client processes (GIL)")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="admin database")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(
        json.dumps(
            run(
                args.listings,
                args.orders,
                args.clients,
                args.processes,
                args.postgres_url,
                args.seed,
            )
        ),
        flush=True,
    )
    return 0


def run(
    listings: int, orders: int, clients: int, processes: int, admin_url: str, seed: int
) -> dict[str, Any]:
    with database("postgres", admin_url) as url, server_process(url, daemon=False) as port:
        target = f"127.0.0.1:{port}"
        os.environ["FUPIN_API_KEY_FILE"] = KEY_FILE  # written by the server process
        started = time.perf_counter()
        cooperatives = seed_market(target, listings, orders, seed)
        seed_s = time.perf_counter() - started
        started = time.perf_counter()
        run_id = match_and_commit(target)
        commit_s = time.perf_counter() - started
        work = shipments_of(target, run_id, cooperatives)
        say(f"season: {len(work):,} shipments from run {run_id}; {clients} clients")
        started = time.perf_counter()
        latencies = season(target, work, clients, processes)
        season_s = time.perf_counter() - started
        with auth.open_channel(target, api_key=auth.resolve_key()) as channel:
            verified = lpb_grpc.LedgerServiceStub(channel).VerifyLedger(
                lpb.VerifyLedgerRequest(), timeout=600
            )
        double = double_counted_kg(url)
    percentiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "bench": "season",
        "listings": listings,
        "orders": orders,
        "clients": clients,
        "shipments": len(work),
        "events": len(latencies),
        "events_per_s": round(len(latencies) / season_s),
        "p99_ms": round(percentiles[98], 2),
        "p50_ms": round(percentiles[49], 2),
        "double_counted_kg": double,
        "ledger_verified": verified.intact,
        "ledger_entries": verified.entries,
        "seed_s": round(seed_s, 1),
        "match_commit_s": round(commit_s, 1),
        "season_s": round(season_s, 1),
        "load_avg": os.getloadavg()[0],
    }


def seed_market(target: str, listings: int, orders: int, seed: int) -> set[str]:
    """Villages, households, cooperatives and household growers, buyers, one product's
    listings and orders; returns the cooperatives' ids."""
    rng = random.Random(seed)
    with RegistryClient(target, import_timeout_s=3600) as client:
        village_ids = data.create_villages(client, 20, seed)
        households = list(client.import_rows(HOUSEHOLDS, data.households(village_ids, 1200)).ids)
        cooperatives = [
            client.create(
                PRODUCERS, _cooperative(rng, village_ids, households[i * 6 : i * 6 + 6])
            ).id
            for i in range(COOPERATIVES)
        ]
        growers = [
            client.create(PRODUCERS, market.producer(rng, hh)).id
            for hh in households[COOPERATIVES * 6 : COOPERATIVES * 7]
        ]
        producers = cooperatives + growers
        buyer_ids = [client.create(BUYERS, market.buyer(rng, i)).id for i in range(20)]
        rows = (_listing(rng, rng.choice(producers)) for _ in range(listings))
        client.import_rows(LISTINGS, rows)
        for _ in range(orders):
            client.create(ORDERS, _order(rng, rng.choice(buyer_ids)))
    return set(cooperatives)


def _cooperative(rng: random.Random, village_ids: list[str], members: list[str]) -> pb.Producer:
    count = rng.randint(3, 6)
    shares = [1000 // count] * count
    shares[0] += 1000 - sum(shares)
    return pb.Producer(
        kind=pb.PRODUCER_COOPERATIVE,
        display_name="Plum cooperative",
        village_id=rng.choice(village_ids),
        location=pb.LatLng(latitude=rng.gauss(23.9, 0.2), longitude=rng.gauss(117.1, 0.2)),
        members=[
            pb.CooperativeMember(household_id=hh, share_permille=s)
            for hh, s in zip(members[:count], shares, strict=True)
        ],
    )


def _listing(rng: random.Random, producer_id: str) -> pb.Listing:
    listing = market.listing(rng, producer_id)
    listing.product = "green_plum"
    return listing


def _order(rng: random.Random, buyer_id: str) -> pb.Order:
    order = market.order(rng, buyer_id)
    order.product, order.max_quantity_kg = "green_plum", rng.randint(20_000, 120_000)
    return order


def match_and_commit(target: str) -> str:
    with auth.open_channel(target, api_key=auth.resolve_key()) as channel:
        matcher = mpb_grpc.MatcherServiceStub(channel)
        request = mpb.MatchProduceRequest(
            selection=mpb.RegistrySelection(product="green_plum", today=TODAY),
            parameters=mpb.SolveParameters(time_limit_s=60),
            request_id=str(uuid.uuid4()),
        )
        run = matcher.MatchProduce(request, timeout=900)
        if run.state != mpb.PROPOSED:
            raise SystemExit(f"run {run.id} ended {mpb.RunState.Name(run.state)}: {run.error}")
        commit = mpb.CommitMatchRunRequest(id=run.id, request_id=str(uuid.uuid4()))
        matcher.CommitMatchRun(commit, timeout=900)
        return str(run.id)


def shipments_of(target: str, run_id: str, cooperatives: set[str]) -> list[Work]:
    out: list[Work] = []
    with auth.open_channel(target, api_key=auth.resolve_key()) as channel:
        stub = spb_grpc.SeasonServiceStub(channel)
        request = spb.ListShipmentsRequest(run_id=run_id, page_size=1000)
        while True:
            page = stub.ListShipments(request, timeout=60)
            out += [
                (s.id, s.producer_id, s.kg, s.price_fen, s.producer_id in cooperatives)
                for s in page.shipments
            ]
            if not page.next_page_token:
                return out
            request.page_token = page.next_page_token


def season(target: str, work: list[Work], clients: int, processes: int) -> list[float]:
    """Each shipment's steps in order, shipments spread over `clients` threads in `processes`
    processes; the latencies (ms) of every call."""
    processes = max(1, min(processes, clients))
    parts = [work[i::processes] for i in range(processes)]
    threads = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        results = pool.starmap(
            _client_process, [(target, p, t) for p, t in zip(parts, threads, strict=True)]
        )
    return [ms for part in results for ms in part]


def _client_process(target: str, work: list[Work], threads: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []
    with auth.open_channel(target, api_key=auth.resolve_key()) as channel:
        stub = spb_grpc.SeasonServiceStub(channel)

        def worker(mine: list[Work]) -> None:
            own: list[float] = []
            try:
                for item in mine:
                    own += _steps(stub, item)
            except Exception as exc:  # reported below: the bench fails
                errors.append(repr(exc))
            with lock:
                latencies.extend(own)

        pool = [threading.Thread(target=worker, args=(work[i::threads],)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    if errors:
        raise SystemExit(f"{len(errors)} clients failed, first: {errors[0]}")
    return latencies


def _steps(stub: Any, item: Work) -> list[float]:
    """Dispatch, receive (5% rejected for grade), pay for what was received, and a
    cooperative's payout of it to its members: each call timed, each with a request_id."""
    shipment_id, producer_id, kg, price_fen, cooperative = item
    rejected = kg // 20
    owed = (kg - rejected) * price_fen
    calls: list[tuple[str, Any]] = [
        ("DispatchShipment", spb.DispatchShipmentRequest(id=shipment_id)),
        (
            "ReceiveShipment",
            spb.ReceiveShipmentRequest(
                id=shipment_id,
                received_kg=kg - rejected,
                rejected_kg=rejected,
                reject_reason=spb.REJECT_GRADE if rejected else spb.REJECT_REASON_UNSPECIFIED,
            ),
        ),
    ]
    if owed:
        pay = spb.RecordPaymentRequest(
            shipment_id=shipment_id, amount_fen=owed, paid_on="2020-06-15"
        )
        calls.append(("RecordPayment", pay))
        if cooperative:
            payout = spb.PayDividendsRequest(
                producer_id=producer_id, amount_fen=owed, paid_on="2020-06-15"
            )
            calls.append(("PayDividends", payout))
    out = []
    for method, request in calls:
        request.request_id = str(uuid.uuid4())
        started = time.perf_counter()
        getattr(stub, method)(request, timeout=120)
        out.append((time.perf_counter() - started) * 1000)
    return out


if __name__ == "__main__":
    sys.exit(main())
