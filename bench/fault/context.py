"""What the fault scenarios (bench/faults.py) share: the deployment and database they run
against, the line each prints, and retrying a call until the service is back."""

from __future__ import annotations

import json
import os
import random
import statistics
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, text

from bench import data, market
from bench.cluster import Cluster, sqlalchemy_url
from bench.topology import Topology
from clients.client import BUYERS, HOUSEHOLDS, LISTINGS, ORDERS, PRODUCERS, RegistryClient
from clients.errors import FupinClientError, UnavailableError, from_rpc_error
from fupin.registry.v1 import resources_pb2 as pb

COMMITTED, RUNNING, FAILED = 4, 2, 6


@dataclass
class Line:
    scenario: str
    runs: int = 0
    lost: int = 0
    duplicated: int = 0
    half_written: int = 0
    recovered: list[float] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.extra[key] = self.extra.get(key, 0) + n

    def json(self) -> str:
        worst = max(self.recovered) if self.recovered else 0.0
        median = statistics.median(self.recovered) if self.recovered else 0.0
        return json.dumps(
            {
                "bench": "faults",
                "scenario": self.scenario,
                "runs": self.runs,
                "lost": self.lost,
                "duplicated": self.duplicated,
                "half_written": self.half_written,
                "recovered_s": round(worst, 3),
                "recovered_p50_s": round(median, 3),
                **self.extra,
                "load_avg": round(os.getloadavg()[0], 2),
            }
        )


@dataclass
class Context:
    topology: Topology
    cluster: Cluster
    db: Engine
    village_ids: list[str]
    producer_ids: list[str]
    buyer_ids: list[str]
    rng: random.Random

    def scalar(self, sql: str, **params: Any) -> Any:
        for attempt in range(50):  # the database itself may be restarting
            try:
                with self.db.connect() as conn:
                    return conn.execute(text(sql), params).scalar()
            except Exception:
                if attempt == 49:
                    raise
                time.sleep(0.2)
        return None

    def registry_calls(self, code: str) -> int:
        """RPCs the registry answered with code, from its /metrics (since it started)."""
        url = f"http://{self.topology.registry.metrics_address}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            body = reply.read().decode()
        return int(
            sum(
                sample.value
                for family in text_string_to_metric_families(body)
                for sample in family.samples
                if sample.name == "fupin_rpc_handled_total" and sample.labels["code"] == code
            )
        )

    def counts(self, sql: str, **params: Any) -> dict[str, int]:
        with self.db.connect() as conn:
            return {key: int(n) for key, n in conn.execute(text(sql), params).all()}

    def registry(self, **kw: Any) -> RegistryClient:
        return RegistryClient(self.topology.registry.address, **kw)

    def stock(self, product: str, listings: int, orders: int, **kw: Any) -> None:
        """Open listings and orders of a product of their own (no one else's)."""
        with self.registry(**kw) as client:
            rows = [
                market.listing(self.rng, self.rng.choice(self.producer_ids))
                for _ in range(listings)
            ]
            for row in rows:
                row.product = product
            client.import_rows(LISTINGS, rows)
            for _ in range(orders):
                order = market.order(self.rng, self.rng.choice(self.buyer_ids))
                order.product = product
                client.create(ORDERS, order)


def setup(topology: Topology, cluster: Cluster, seed: int) -> Context:
    rng = random.Random(seed)
    with RegistryClient(topology.registry.address, import_timeout_s=600) as client:
        village_ids = data.create_villages(client, 10, seed)
        households = list(client.import_rows(HOUSEHOLDS, data.households(village_ids, 100)).ids)
        producer_ids = [
            client.create(PRODUCERS, market.producer(rng, h)).id for h in households[:20]
        ]
        buyer_ids = [
            client.create(
                BUYERS,
                pb.Buyer(
                    kind=pb.PROCESSING_PLANT,
                    display_name=f"Plant {i}",
                    county_code="445281",
                    location=pb.LatLng(latitude=23.3, longitude=116.2),
                ),
            ).id
            for i in range(5)
        ]
    db = create_engine(sqlalchemy_url(cluster.url("fupin")), pool_pre_ping=True)
    return Context(topology, cluster, db, village_ids, producer_ids, buyer_ids, rng)


def until_done(call: Callable[[], Any], timeout_s: float = 120) -> Any:
    """Retry on UNAVAILABLE (what a client does after its channel's own retries)."""
    deadline = time.perf_counter() + timeout_s
    while True:
        try:
            return call()
        except (UnavailableError, grpc.RpcError) as exc:
            failure = exc if isinstance(exc, FupinClientError) else from_rpc_error(exc)
            if failure.code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise failure from exc
            if time.perf_counter() > deadline:
                raise
            time.sleep(0.2)
