"""Quick sourcing latency with a registry full of open listings (used by bench/produce.py)."""

from __future__ import annotations

import random
import statistics
import sys
import time
from typing import Any

from clients import auth
from clients.client import LISTINGS, PRODUCERS, RegistryClient
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import resources_pb2 as pb

PRODUCER_COUNT = 500


def measure_quick(target: str, listings: int, calls: int, seed: int) -> dict[str, Any]:
    """Load `listings` open listings, then time `calls` QuickSource requests."""
    rng = random.Random(seed)
    with RegistryClient(target, import_timeout_s=3600) as client:
        producers = [
            client.create(
                PRODUCERS,
                pb.Producer(
                    kind=pb.PRODUCER_ENTERPRISE,
                    display_name=f"Orchard {i}",
                    location=pb.LatLng(
                        latitude=rng.gauss(23.9, 0.2), longitude=rng.gauss(117.1, 0.2)
                    ),
                ),
            ).id
            for i in range(PRODUCER_COUNT)
        ]
        rows = (
            pb.Listing(
                producer_id=rng.choice(producers),
                product=rng.choice(["green_plum", "tea", "lychee"]),
                grade=rng.choice("ABC"),
                quantity_kg=rng.randint(100, 5000),
                floor_price_fen=rng.randint(80, 200),
                available_from="2020-05-01",
                available_until="2020-06-30",
                shelf_life_days=rng.randint(3, 30),
            )
            for _ in range(listings)
        )
        sys.stderr.write(f"bench: loading {listings:,} listings\n")
        client.import_rows(LISTINGS, rows)
    with auth.client_channel(target) as channel:
        stub = mpb_grpc.MatcherServiceStub(channel)
        stub.QuickSource(_request(rng), timeout=60)  # loads the in-memory supply
        latencies = []
        for _ in range(calls):
            started = time.perf_counter()
            stub.QuickSource(_request(rng), timeout=5)
            latencies.append((time.perf_counter() - started) * 1000)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "listings": listings,
        "calls": calls,
        "p50_ms": round(q[49], 3),
        "p99_ms": round(q[98], 3),
    }


def _request(rng: random.Random) -> mpb.QuickSourceRequest:
    order = mpb.InlineOrder(
        product=rng.choice(["green_plum", "tea", "lychee"]),
        accepted_grades=["A", "B"],
        max_quantity_kg=rng.randint(500, 20000),
        price_fen=rng.randint(200, 400),
        location={"latitude": rng.uniform(22.5, 24.8), "longitude": rng.uniform(113.5, 118.5)},
        deliver_by="2020-06-20",
    )
    return mpb.QuickSourceRequest(order=order, today="2020-05-20", max_results=10)
