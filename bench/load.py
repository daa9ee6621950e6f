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
- load_avg: the machine's 1-minute load average at the end (2 cores, shared);
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
import math
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

import grpc
from sqlalchemy import create_engine, text

from bench import data
from bench.registry import POSTGRES_ADMIN_URL, database
from bench.topology import Topology, allowed_nice
from clients import auth
from clients.client import (
    BUYERS,
    HOUSEHOLDS,
    LISTINGS,
    ORDERS,
    PRODUCERS,
    VILLAGES,
    RegistryClient,
    channel_options,
)
from clients.errors import AbortedError, FupinClientError, from_rpc_error
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import resources_pb2 as pb

PRODUCTS = ("green_plum", "tea", "lychee")
TODAY = "2020-05-20"
MIX = "read=45,create=15,quick=32,match=8"  # weights of the kinds of iteration


@dataclass
class Seeded:
    village_ids: list[str]
    producer_ids: list[str]
    buyer_ids: list[str]
    listing_ids: list[str]
    order_ids: list[str]


@dataclass
class Tally:
    """What one load process saw: latencies by kind, failures, acknowledged writes."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    conflicts: int = 0
    created_listings: list[str] = field(default_factory=list)
    created_orders: list[str] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)


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
        seeded = seed(topology.registry.address, args.listings, args.orders, args.seed)
        _say(f"load: {args.clients} clients for {args.seconds:g} s")
        tally, wall_s = run_load(topology, seeded, args)
        audit = audit_database(url, tally)
        handler = quick_handler_p99(topology.matcher.metrics_address)
    figures = {**summary(args, tally, wall_s, audit), **handler}
    figures["matcher_nice"] = topology.matcher.nice
    print(json.dumps(figures), flush=True)
    return 0


def seed(target: str, listings: int, orders: int, seed_value: int) -> Seeded:
    rng = random.Random(seed_value)
    with RegistryClient(target, import_timeout_s=600) as client:
        village_ids = data.create_villages(client, 20, seed_value)
        households = list(client.import_rows(HOUSEHOLDS, data.households(village_ids, 400)).ids)
        producer_ids = [
            client.create(PRODUCERS, _producer(rng, household_id)).id
            for household_id in households[:120]
        ]
        buyer_ids = [client.create(BUYERS, _buyer(rng, i)).id for i in range(20)]
        rows = (_listing(rng, rng.choice(producer_ids)) for _ in range(listings))
        listing_ids = list(client.import_rows(LISTINGS, rows).ids)
        order_ids = [
            client.create(ORDERS, _order(rng, rng.choice(buyer_ids))).id for _ in range(orders)
        ]
    return Seeded(village_ids, producer_ids, buyer_ids, listing_ids, order_ids)


def _producer(rng: random.Random, household_id: str) -> pb.Producer:
    return pb.Producer(
        kind=pb.PRODUCER_HOUSEHOLD,
        display_name="Grower",
        household_id=household_id,
        location=pb.LatLng(latitude=rng.gauss(23.9, 0.2), longitude=rng.gauss(117.1, 0.2)),
    )


def _buyer(rng: random.Random, i: int) -> pb.Buyer:
    return pb.Buyer(
        kind=pb.PROCESSING_PLANT,
        display_name=f"Plant {i}",
        county_code="445281",
        location=pb.LatLng(latitude=rng.uniform(22.8, 23.6), longitude=rng.uniform(115.8, 117)),
    )


def _listing(rng: random.Random, producer_id: str) -> pb.Listing:
    return pb.Listing(
        producer_id=producer_id,
        product=rng.choice(PRODUCTS),
        grade=rng.choice("AB"),
        quantity_kg=rng.randint(200, 3000),
        floor_price_fen=rng.randint(80, 180),
        available_from="2020-05-01",
        available_until="2020-06-30",
        shelf_life_days=rng.randint(5, 30),
    )


def _order(rng: random.Random, buyer_id: str) -> pb.Order:
    return pb.Order(
        buyer_id=buyer_id,
        product=rng.choice(PRODUCTS),
        accepted_grades=["A", "B"],
        min_quantity_kg=0,
        max_quantity_kg=rng.randint(2000, 40000),
        price_fen=rng.randint(220, 400),
        deliver_by="2020-06-20",
    )


def run_load(topology: Topology, seeded: Seeded, args: argparse.Namespace) -> tuple[Tally, float]:
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
    seeded: Seeded,
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
        auth.open_channel(
            matcher_target, api_key=auth.resolve_key(), options=channel_options()
        ) as channel,
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
    seeded: Seeded,
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


def _read(registry: RegistryClient, seeded: Seeded, rng: random.Random) -> None:
    choice = rng.random()
    if choice < 0.5:
        registry.get(LISTINGS, rng.choice(seeded.listing_ids))
    elif choice < 0.7:
        registry.get(VILLAGES, rng.choice(seeded.village_ids))
    elif choice < 0.85:
        registry.get(ORDERS, rng.choice(seeded.order_ids))
    else:
        list(registry.list(LISTINGS, filter=f'product = "{rng.choice(PRODUCTS)}"', limit=20))


def _create(
    registry: RegistryClient, seeded: Seeded, rng: random.Random, tally: Tally, lock: threading.Lock
) -> None:
    if rng.random() < 0.5:
        created = registry.create(LISTINGS, _listing(rng, rng.choice(seeded.producer_ids)))
        with lock:
            tally.created_listings.append(created.id)
    else:
        created = registry.create(ORDERS, _order(rng, rng.choice(seeded.buyer_ids)))
        with lock:
            tally.created_orders.append(created.id)


def _quick_request(rng: random.Random) -> mpb.QuickSourceRequest:
    order = mpb.InlineOrder(
        product=rng.choice(PRODUCTS),
        accepted_grades=["A", "B"],
        max_quantity_kg=rng.randint(500, 20000),
        price_fen=rng.randint(200, 400),
        location={"latitude": rng.uniform(22.8, 23.6), "longitude": rng.uniform(115.8, 117)},
        deliver_by="2020-06-20",
    )
    return mpb.QuickSourceRequest(order=order, today=TODAY, max_results=10)


def _match_and_commit(matcher: Any, rng: random.Random, tally: Tally, lock: threading.Lock) -> None:
    """A produce run over a product's open registry data, then its commit."""
    request = mpb.MatchProduceRequest(
        selection=mpb.RegistrySelection(product=rng.choice(PRODUCTS), today=TODAY),
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


def audit_database(url: str, tally: Tally) -> dict[str, int]:
    """Oversold kilograms and lost writes, recomputed from the rows themselves."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        committed_alloc = """
            SELECT a.{key} AS id, sum(a.kg) AS kg FROM run_allocation a
            JOIN match_run r ON r.id = a.run_id WHERE r.state = 4 GROUP BY a.{key}"""
        listings = conn.execute(
            text(
                f"""SELECT l.id, l.quantity_kg, l.reserved_kg, coalesce(c.kg, 0)
                FROM listing l LEFT JOIN ({committed_alloc.format(key="listing_id")}) c
                ON c.id = l.id"""
            )
        ).all()
        orders = conn.execute(
            text(
                f"""SELECT o.id, o.max_quantity_kg, o.filled_kg, coalesce(c.kg, 0)
                FROM purchase_order o LEFT JOIN ({committed_alloc.format(key="order_id")}) c
                ON c.id = o.id"""
            )
        ).all()
        states = dict(conn.execute(text("SELECT id, state FROM match_run")).all())
        ledger = conn.execute(text("SELECT coalesce(sum(quantity), 0) FROM ledger_entry")).scalar()
    engine.dispose()
    listing_ids = {row[0] for row in listings}
    order_ids = {row[0] for row in orders}
    oversold = sum(max(0, alloc - cap) for _, cap, _, alloc in [*listings, *orders])
    drift = sum(used != alloc for _, _, used, alloc in [*listings, *orders])
    lost = (
        sum(i not in listing_ids for i in tally.created_listings)
        + sum(i not in order_ids for i in tally.created_orders)
        + sum(states.get(i) != 4 for i in tally.committed)
        + drift
    )
    allocated = sum(alloc for _, _, _, alloc in listings)
    return {
        "oversold_kg": int(oversold),
        "lost_writes": int(lost),
        "ledger_mismatch_kg": int(abs(int(ledger or 0) - allocated)),
        "committed_runs": sum(s == 4 for s in states.values()),
        "committed_kg": int(allocated),
    }


def quick_handler_p99(metrics_address: str) -> dict[str, Any]:
    """The matcher's own view of QuickSource: the upper edge of the latency histogram bucket
    holding its 99th percentile, from the handler's start to its end (the time a call waits
    for a server thread, and the transport both ways, are not in it). The gap between this
    and ``quick_p99_ms`` is time outside the handler: queues, the network stack, and waiting
    for a core on either side."""
    url = f"http://{metrics_address}/metrics"
    buckets: list[tuple[float, float]] = []
    with urllib.request.urlopen(url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("fupin_rpc_duration_seconds_bucket") and "QuickSource" in line:
                edge = line.split('le="', 1)[1].split('"', 1)[0]
                if 'code="OK"' in line:
                    buckets.append((float(edge), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return {"quick_handler_p99_le_ms": None}
    total = buckets[-1][1]
    edge = next(le for le, count in buckets if count >= 0.99 * total)
    return {"quick_handler_p99_le_ms": None if math.isinf(edge) else edge * 1000}


def summary(
    args: argparse.Namespace, tally: Tally, wall_s: float, audit: dict[str, int]
) -> dict[str, Any]:
    every = [x for values in tally.latencies.values() for x in values]
    calls = len(every) + len(tally.errors)
    out: dict[str, Any] = {
        "bench": "load",
        "clients": args.clients,
        "seconds": args.seconds,
        "mix": args.mix,
        "rps": round(calls / wall_s, 1),
        "p50_ms": _percentile(every, 50),
        "p99_ms": _percentile(every, 99),
        "errors": len(tally.errors),
        "oversold_kg": audit["oversold_kg"],
        "lost_writes": audit["lost_writes"],
        "conflicts": tally.conflicts,
        "ledger_mismatch_kg": audit["ledger_mismatch_kg"],
        "committed_runs": audit["committed_runs"],
        "committed_kg": audit["committed_kg"],
    }
    for kind in ("read", "create", "quick", "match", "commit"):
        values = tally.latencies.get(kind, [])
        out[f"{kind}_calls"] = len(values)
        out[f"{kind}_p50_ms"] = _percentile(values, 50)
        out[f"{kind}_p99_ms"] = _percentile(values, 99)
    out["load_avg"] = round(os.getloadavg()[0], 2)
    if tally.errors:
        out["first_errors"] = tally.errors[:5]
    return out


def _percentile(values: list[float], p: int) -> float:
    if len(values) < 2:
        return round(values[0], 3) if values else 0.0
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 3)


def _say(text_: str) -> None:
    sys.stderr.write(text_ + "\n")


if __name__ == "__main__":
    sys.exit(main())
