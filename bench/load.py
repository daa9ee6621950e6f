"""Load on the split deployment: N concurrent clients for T seconds, then an audit of the database.

    python bench/load.py [--clients 64] [--seconds 60] [--processes 16] [--matcher-nice -5]
                         [--postgres-url URL] [--mix read=45,create=15,quick=32,match=8]

Starts PostgreSQL-backed `fupin serve --only registry` and `--only matcher` processes on
loopback (bench/topology.py) over a fresh database, the matcher at niceness `--matcher-nice`
(root only; otherwise 0), seeds villages, households, producers,
buyers, listings and orders, then runs `--clients` client threads (spread over `--processes`
processes, so the load generator's own GIL does not queue them) that loop over a mix of
calls: reads (Get/List), creates (listings and orders, keyed by request_id), quick sourcing,
and match runs over registry selections followed by a commit. Prints one JSON line:

- bench, clients, seconds, rps, p50_ms, p99_ms (all calls), errors (calls that failed other
  than a commit ABORTED because a concurrent commit took the kilograms first: `conflicts`);
- per kind: `<kind>_p50_ms`, `<kind>_p99_ms`, `<kind>_calls` (read, create, quick, match,
  commit);
- oversold_kg: kilograms committed beyond a listing's quantity or an order's maximum, summed
  from the committed runs' allocations in the database (independent of the counters the
  commit maintains); lost_writes: acknowledged creates missing from the database,
  acknowledged commits not COMMITTED there, and listings or orders whose reserved / filled
  kilograms differ from their committed allocations; ledger_mismatch_kg likewise for the ledger;
- load_avg: the machine's 1-minute load average at the end (2 cores, shared); python_ref_s:
  how fast the machine runs plain Python once the load is over (bench/memory.py);
- quick_handler_p99_le_ms: the matcher's own QuickSource p99 (handler only), from its metrics;
- matcher_nice: the niceness the matcher ran at.

All of it shares this machine's cores. The matcher answers quick sourcing in a few
milliseconds, but at equal niceness its threads queue for a core behind the registry,
PostgreSQL and the load generator (load average 8-12 on 2 cores), which is most of the
quick-sourcing tail; niceness -5 gives it the larger share of the cores a deployment gives it
with cores of its own or a CPU request (docs/reliability.md has the figures both ways).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

import grpc

from bench import market
from bench.common import matcher_channel, say
from bench.load_figures import Tally, audit_database, quick_handler_p99, summary
from bench.memory import python_ref_s
from bench.registry import POSTGRES_ADMIN_URL, database
from bench.topology import Topology, allowed_nice
from clients.client import LISTINGS, ORDERS, VILLAGES, RegistryClient
from clients.errors import AbortedError, FupinClientError, from_rpc_error
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc

MIX = "read=45,create=15,quick=32,match=8"  # weights of the kinds of iteration


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--processes", type=int, default=16, help="load generator processes")
    parser.add_argument(
        "--matcher-nice", type=int, default=-5, help="the matcher's niceness (below 0: root)"
    )
    parser.add_argument("--listings", type=int, default=3000, help="seeded open listings")
    parser.add_argument("--orders", type=int, default=150, help="seeded open orders")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="admin database")
    parser.add_argument("--mix", default=MIX, help="weights of read, create, quick, match")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with (
        database("postgres", args.postgres_url) as url,
        tempfile.TemporaryDirectory(prefix="fupin-load-") as workdir,
        Topology(
            url, Path(workdir), matcher_nice=allowed_nice(args.matcher_nice), FUPIN_MAX_WORKERS="64"
        ) as topology,
    ):
        seeded = market.seed(topology.registry.address, args.listings, args.orders, args.seed)
        say(f"load: {args.clients} clients for {args.seconds:g} s")
        tally, wall_s = run_load(topology, seeded, args)
        audit = audit_database(url, tally)
        handler = quick_handler_p99(topology.matcher.metrics_address)
    figures = {**summary(args, tally, wall_s, audit), **handler}
    figures["matcher_nice"] = topology.matcher.nice
    figures["python_ref_s"] = python_ref_s()
    print(json.dumps(figures), flush=True)
    return 0


def run_load(
    topology: Topology, seeded: market.Seeded, args: argparse.Namespace
) -> tuple[Tally, float]:
    context = multiprocessing.get_context("spawn")
    results: Any = context.Queue()
    per = [
        args.clients // args.processes + (i < args.clients % args.processes)
        for i in range(args.processes)
    ]
    addresses = (topology.registry.address, topology.matcher.address)
    started = time.perf_counter()
    procs = [
        context.Process(
            target=_load_process,
            args=(addresses, seeded, n, args.seconds, args.seed * 1000 + i, args.mix, results),
        )
        for i, n in enumerate(per)
        if n
    ]
    for proc in procs:
        proc.start()
    total = Tally()
    for _ in procs:
        part: Tally = results.get(timeout=args.seconds + 600)
        for kind, values in part.latencies.items():
            total.latencies[kind].extend(values)
        total.errors += part.errors
        total.conflicts += part.conflicts
        total.created_listings += part.created_listings
        total.created_orders += part.created_orders
        total.committed += part.committed
    for proc in procs:
        proc.join(60)
    return total, time.perf_counter() - started


def _load_process(
    addresses: tuple[str, str],
    seeded: market.Seeded,
    clients: int,
    seconds: float,
    seed_value: int,
    mix: str,
    results: Any,
) -> None:
    registry_target, matcher_target = addresses
    tally = Tally()
    lock = threading.Lock()
    with (
        RegistryClient(registry_target, timeout_s=30) as registry,
        matcher_channel(matcher_target) as channel,
    ):
        matcher = mpb_grpc.MatcherServiceStub(channel)
        deadline = time.perf_counter() + seconds
        threads = [
            threading.Thread(
                target=_client,
                args=(
                    registry,
                    matcher,
                    seeded,
                    deadline,
                    random.Random(seed_value * 100 + i),
                    weights_of(mix),
                    tally,
                    lock,
                ),
            )
            for i in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    tally.latencies = dict(tally.latencies)  # picklable
    results.put(tally)


def _client(
    registry: RegistryClient,
    matcher: Any,
    seeded: market.Seeded,
    deadline: float,
    rng: random.Random,
    mix: dict[str, float],
    tally: Tally,
    lock: threading.Lock,
) -> None:
    kinds, weights = list(mix), list(mix.values())
    while time.perf_counter() < deadline:
        kind = rng.choices(kinds, weights)[0]
        started = time.perf_counter()
        try:
            if kind == "read":
                _read(registry, seeded, rng)
            elif kind == "create":
                _create(registry, seeded, rng, tally, lock)
            elif kind == "quick":
                matcher.QuickSource(_quick_request(rng), timeout=10)
            else:
                _match_and_commit(matcher, rng, tally, lock)
                continue  # timed inside, per call
        except (FupinClientError, grpc.RpcError) as exc:
            failure = exc if isinstance(exc, FupinClientError) else from_rpc_error(exc)
            with lock:
                tally.errors.append(f"{kind}: {failure.code.name}: {failure.message[:200]}")
            continue
        with lock:
            tally.latencies[kind].append((time.perf_counter() - started) * 1000)


def weights_of(mix: str) -> dict[str, float]:
    """{"read": 45.0, ...} from "read=45,create=15,..."; kinds left out get no calls."""
    out = {}
    for part in mix.split(","):
        kind, _, weight = part.partition("=")
        if kind not in ("read", "create", "quick", "match"):
            raise SystemExit(f"--mix: unknown kind {kind!r}")
        out[kind] = float(weight)
    return out


def _read(registry: RegistryClient, seeded: market.Seeded, rng: random.Random) -> None:
    choice = rng.random()
    if choice < 0.5:
        registry.get(LISTINGS, rng.choice(seeded.listing_ids))
    elif choice < 0.7:
        registry.get(VILLAGES, rng.choice(seeded.village_ids))
    elif choice < 0.85:
        registry.get(ORDERS, rng.choice(seeded.order_ids))
    else:
        list(registry.list(LISTINGS, filter=f'product = "{rng.choice(market.PRODUCTS)}"', limit=20))


def _create(
    registry: RegistryClient,
    seeded: market.Seeded,
    rng: random.Random,
    tally: Tally,
    lock: threading.Lock,
) -> None:
    if rng.random() < 0.5:
        created = registry.create(LISTINGS, market.listing(rng, rng.choice(seeded.producer_ids)))
        with lock:
            tally.created_listings.append(created.id)
    else:
        created = registry.create(ORDERS, market.order(rng, rng.choice(seeded.buyer_ids)))
        with lock:
            tally.created_orders.append(created.id)


def _quick_request(rng: random.Random) -> mpb.QuickSourceRequest:
    order = mpb.InlineOrder(
        product=rng.choice(market.PRODUCTS),
        accepted_grades=["A", "B"],
        max_quantity_kg=rng.randint(500, 20000),
        price_fen=rng.randint(200, 400),
        location={"latitude": rng.uniform(22.8, 23.6), "longitude": rng.uniform(115.8, 117)},
        deliver_by="2020-06-20",
    )
    return mpb.QuickSourceRequest(order=order, today=market.TODAY, max_results=10)


def _match_and_commit(matcher: Any, rng: random.Random, tally: Tally, lock: threading.Lock) -> None:
    """A produce run over a product's open registry data, then its commit."""
    request = mpb.MatchProduceRequest(
        selection=mpb.RegistrySelection(product=rng.choice(market.PRODUCTS), today=market.TODAY),
        parameters=mpb.SolveParameters(time_limit_s=5),
        request_id=str(uuid.uuid4()),
    )
    started = time.perf_counter()
    run = matcher.MatchProduce(request, timeout=120)
    match_ms = (time.perf_counter() - started) * 1000
    with lock:
        tally.latencies["match"].append(match_ms)
    if run.state != mpb.PROPOSED:
        raise FupinClientError(f"run {run.id} ended {mpb.RunState.Name(run.state)}: {run.error}")
    started = time.perf_counter()
    commit = mpb.CommitMatchRunRequest(id=run.id, request_id=str(uuid.uuid4()), etag=run.etag)
    try:
        committed = matcher.CommitMatchRun(commit, timeout=30)
    except grpc.RpcError as exc:
        failure = from_rpc_error(exc)
        if not isinstance(failure, AbortedError):
            raise
        with lock:  # a concurrent commit took some of the kilograms first: expected
            tally.conflicts += 1
            tally.latencies["commit"].append((time.perf_counter() - started) * 1000)
        return
    with lock:
        tally.latencies["commit"].append((time.perf_counter() - started) * 1000)
        if committed.state == mpb.COMMITTED:
            tally.committed.append(committed.id)


if __name__ == "__main__":
    sys.exit(main())
