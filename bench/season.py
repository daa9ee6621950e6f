"""The season after the match on PostgreSQL: a 10,000 listings x 200 orders produce run
committed, then every shipment dispatched, received, paid for and (a cooperative's) paid out
to its members by 32 concurrent gRPC clients against a real server process.

    python bench/season.py [--listings 10000] [--orders 200] [--clients 32] [--processes 4]
                           [--batch 50] [--single 1000] [--postgres-url URL] [--seed 1]

Two concurrent phases, one after the other, on disjoint shipments: the first --single
shipments' steps by single calls (DispatchShipment, ReceiveShipment, RecordPayment,
PayDividends), then the rest's with the batch RPCs, --batch shipments a call
(BatchDispatchShipments, BatchReceiveShipments, BatchRecordPayments, BatchPayDividends with
one payout per cooperative's payment, as the single calls). `--batch 1`: every shipment by
single calls.

Prints one JSON line: bench, shipments, events (what the batched phase recorded: dispatches,
receipts, payments, dividend payouts; a batch of 50 receipts is 50 events), calls (the RPCs
that made them), batch_size, events_per_s (over that phase), p99_ms (of its calls),
single_events_per_s and single_p99_ms (the single-call phase's), double_counted_kg and
ledger_verified (over both phases), then the phases' seconds and the load average.
double_counted_kg is computed from the database after the run, apart from the
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
from dataclasses import dataclass
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
    parser.add_argument("--batch", type=int, default=50, help="shipments per batch call")
    parser.add_argument("--single", type=int, default=1000, help="shipments by single calls")
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
                batch=args.batch,
                single=args.single,
            )
        ),
        flush=True,
    )
    return 0


def run(
    listings: int,
    orders: int,
    clients: int,
    processes: int,
    admin_url: str,
    seed: int,
    *,
    batch: int = 50,
    single: int = 1000,
) -> dict[str, Any]:
    if not 1 <= batch <= 500:
        raise SystemExit("--batch must be 1-500 (the batch RPCs' limit)")
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
        random.Random(seed).shuffle(work)  # both phases get a like mix of producers
        cut = len(work) if batch == 1 else min(single, len(work))
        say(f"season: {len(work):,} shipments from run {run_id}; {clients} clients")
        lone = season(target, work[:cut], clients, processes, 1)
        batched = season(target, work[cut:], clients, processes, batch) if batch > 1 else lone
        with auth.open_channel(target, api_key=auth.resolve_key()) as channel:
            verified = lpb_grpc.LedgerServiceStub(channel).VerifyLedger(
                lpb.VerifyLedgerRequest(), timeout=600
            )
        double = double_counted_kg(url)
    return {
        "bench": "season",
        "listings": listings,
        "orders": orders,
        "clients": clients,
        "shipments": len(work),
        "batch_size": batch,
        **batched.figures(""),
        "single_shipments": cut,
        **lone.figures("single_"),
        "double_counted_kg": double,
        "ledger_verified": verified.intact,
        "ledger_entries": verified.entries,
        "seed_s": round(seed_s, 1),
        "match_commit_s": round(commit_s, 1),
        "load_avg": os.getloadavg()[0],
    }


@dataclass(frozen=True)
class Phase:
    """What one phase recorded: per call, its events and milliseconds; its seconds."""

    calls: list[tuple[int, float]]
    seconds: float

    def figures(self, prefix: str) -> dict[str, Any]:
        events = sum(n for n, _ms in self.calls)
        ms = [m for _n, m in self.calls] or [0.0]
        ms = ms if len(ms) > 1 else ms * 2  # quantiles wants two at least
        percentiles = statistics.quantiles(ms, n=100, method="inclusive")
        return {
            f"{prefix}events": events,
            f"{prefix}calls": len(self.calls),
            f"{prefix}events_per_s": round(events / self.seconds) if self.seconds else 0,
            f"{prefix}p99_ms": round(percentiles[98], 2),
            f"{prefix}p50_ms": round(percentiles[49], 2),
            f"{prefix}season_s": round(self.seconds, 1),
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


def season(target: str, work: list[Work], clients: int, processes: int, batch: int) -> Phase:
    """Each shipment's steps in order, `batch` shipments a call (1: the single calls), by
    `clients` threads in `processes` processes. Each client works the shipments of its own
    producers, as a cooperative (or its office) batches its own members' payouts: two clients'
    batches never wait on one cooperative's row or one grower's household."""
    if not work:
        return Phase([], 0.0)
    processes = max(1, min(processes, clients))
    producers = sorted({w[1] for w in work})
    slot = {p: i % clients for i, p in enumerate(producers)}
    mine: list[list[Work]] = [[] for _ in range(clients)]
    for item in work:
        mine[slot[item[1]]].append(item)
    parts = [mine[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    with context.Pool(processes) as pool:
        results = pool.starmap(_client_process, [(target, p, batch) for p in parts])
    return Phase([c for part in results for c in part], time.perf_counter() - started)


def _client_process(target: str, work: list[list[Work]], batch: int) -> list[tuple[int, float]]:
    """One thread per client, each with its list of shipments."""
    calls: list[tuple[int, float]] = []
    lock = threading.Lock()
    errors: list[str] = []
    with auth.open_channel(target, api_key=auth.resolve_key()) as channel:
        stub = spb_grpc.SeasonServiceStub(channel)

        def worker(mine: list[Work]) -> None:
            own: list[tuple[int, float]] = []
            try:
                for start in range(0, len(mine), batch):
                    chunk = mine[start : start + batch]
                    own += _steps(stub, chunk[0]) if batch == 1 else _batch_steps(stub, chunk)
            except Exception as exc:  # reported below: the bench fails
                errors.append(repr(exc))
            with lock:
                calls.extend(own)

        pool = [threading.Thread(target=worker, args=(w,)) for w in work]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    if errors:
        raise SystemExit(f"{len(errors)} clients failed, first: {errors[0]}")
    return calls


def _steps(stub: Any, item: Work) -> list[tuple[int, float]]:
    """Dispatch, receive (5% rejected for grade), pay for what was received, and a
    cooperative's payout of it to its members: each call timed, each with a request_id."""
    shipment_id = item[0]
    calls: list[tuple[str, Any]] = [
        ("DispatchShipment", spb.DispatchShipmentRequest(id=shipment_id)),
        ("ReceiveShipment", _receipt(item)),
    ]
    payment = _payment(item)
    if payment is not None:
        calls.append(("RecordPayment", payment))
    payout = _payout(item)
    if payout is not None:
        calls.append(("PayDividends", payout))
    for _method, request in calls:
        request.request_id = str(uuid.uuid4())
    return [_timed(stub, method, request, 1) for method, request in calls]


def _batch_steps(stub: Any, chunk: list[Work]) -> list[tuple[int, float]]:
    """The chunk's dispatches, receipts, payments and cooperatives' payouts (one per payment
    of a cooperative, as the single calls make them) by one batch call each."""
    payments = [p for p in map(_payment, chunk) if p is not None]
    calls: list[tuple[str, Any, int]] = [
        (
            "BatchDispatchShipments",
            spb.BatchDispatchShipmentsRequest(
                requests=[spb.DispatchShipmentRequest(id=w[0]) for w in chunk]
            ),
            len(chunk),
        ),
        (
            "BatchReceiveShipments",
            spb.BatchReceiveShipmentsRequest(requests=[_receipt(w) for w in chunk]),
            len(chunk),
        ),
    ]
    if payments:
        request = spb.BatchRecordPaymentsRequest(requests=payments)
        calls.append(("BatchRecordPayments", request, len(payments)))
    payouts = [p for p in map(_payout, chunk) if p is not None]
    if payouts:
        request = spb.BatchPayDividendsRequest(requests=payouts)
        calls.append(("BatchPayDividends", request, len(payouts)))
    out = []
    for method, request, events in calls:
        for item in getattr(request, "requests", [request]):
            item.request_id = str(uuid.uuid4())
        out.append(_timed(stub, method, request, events))
    return out


def _timed(stub: Any, method: str, request: Any, events: int) -> tuple[int, float]:
    started = time.perf_counter()
    getattr(stub, method)(request, timeout=120)
    return events, (time.perf_counter() - started) * 1000


def _receipt(item: Work) -> spb.ReceiveShipmentRequest:
    shipment_id, _producer, kg, _price, _coop = item
    rejected = kg // 20
    reason = spb.REJECT_GRADE if rejected else spb.REJECT_REASON_UNSPECIFIED
    return spb.ReceiveShipmentRequest(
        id=shipment_id, received_kg=kg - rejected, rejected_kg=rejected, reject_reason=reason
    )


def _owed(item: Work) -> int:
    _id, _producer, kg, price_fen, _coop = item
    return (kg - kg // 20) * price_fen


def _payment(item: Work) -> spb.RecordPaymentRequest | None:
    if not _owed(item):
        return None
    return spb.RecordPaymentRequest(
        shipment_id=item[0], amount_fen=_owed(item), paid_on="2020-06-15"
    )


def _payout(item: Work) -> spb.PayDividendsRequest | None:
    if not (_owed(item) and item[4]):
        return None
    return spb.PayDividendsRequest(
        producer_id=item[1], amount_fen=_owed(item), paid_on="2020-06-15"
    )


if __name__ == "__main__":
    sys.exit(main())
