"""Prometheus metrics of one server: RPCs, solves, the database pool (docs/operations.md).

Each server owns a `Metrics` with its own CollectorRegistry (two servers in one process, as in
tests, do not mix their counts). The interceptor (server/interceptor.py) counts and times every RPC
by service, method and status code; the matcher records each run's sizes, duration, end state
and gap, by kind (matcher/service/live.py, where every run starts and ends); the pool is read at
scrape
time. `serve` exposes it all at http://ADDRESS/metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120)
SOLVE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
GAP_BUCKETS = (0, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 1)
SIZE_BUCKETS = (10, 100, 1_000, 10_000, 100_000, 1_000_000)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["service", "method", "code"]
        self.rpcs = Counter("fupin_rpc_handled", "RPCs completed", labels, registry=self.registry)
        self.rpc_seconds = Histogram(
            "fupin_rpc_duration_seconds",
            "RPC latency",
            labels,
            buckets=RPC_BUCKETS,
            registry=self.registry,
        )
        self.runs = Counter(
            "fupin_runs_finished", "Match runs ended", ["kind", "state"], registry=self.registry
        )
        self.solve_seconds = Histogram(
            "fupin_solve_duration_seconds",
            "Wall time of a run (load, build, solve)",
            ["kind", "state"],
            buckets=SOLVE_BUCKETS,
            registry=self.registry,
        )
        self.solve_gap = Histogram(
            "fupin_solve_gap_ratio",
            "Relative gap of proposed runs (0 = proved optimal)",
            ["kind"],
            buckets=GAP_BUCKETS,
            registry=self.registry,
        )
        self.solve_size = Histogram(
            "fupin_solve_size",
            "Problem sizes of started runs, by side (listings, orders, ...)",
            ["kind", "side"],
            buckets=SIZE_BUCKETS,
            registry=self.registry,
        )

    def rpc(self, method: str, code: str, seconds: float) -> None:
        """One finished RPC; method is the gRPC path /package.Service/Method."""
        _, service, name = method.rsplit("/", 2) if method.count("/") >= 2 else ("", "", method)
        self.rpcs.labels(service, name, code).inc()
        self.rpc_seconds.labels(service, name, code).observe(seconds)

    def run_started(self, kind: str, **sizes: int) -> None:
        for side, size in sizes.items():
            self.solve_size.labels(kind, side).observe(size)

    def run_finished(self, kind: str, state: str, seconds: float, gap: float | None) -> None:
        self.runs.labels(kind, state).inc()
        self.solve_seconds.labels(kind, state).observe(seconds)
        if gap is not None:
            self.solve_gap.labels(kind).observe(gap)

    def watch_pool(self, engine: Engine) -> None:
        self.registry.register(PoolCollector(engine))

    def watch_in_flight(self, in_flight: Callable[[], tuple[int, int]]) -> None:
        """Calls and streams in flight now (server/admission.py), read when scraped."""
        self.registry.register(InFlightCollector(in_flight))

    def serve(self, address: str) -> WSGIServer:
        """Serve /metrics on address (HOST:PORT; port 0 picks one: see .server_port)."""
        host, _, port = address.rpartition(":")
        server, _thread = start_http_server(int(port), host or "0.0.0.0", registry=self.registry)  # noqa: S104
        return server


class InFlightCollector(Collector):
    def __init__(self, in_flight: Callable[[], tuple[int, int]]) -> None:
        self.in_flight = in_flight

    def collect(self) -> Iterator[GaugeMetricFamily]:
        calls, streams = self.in_flight()
        family = GaugeMetricFamily(
            "fupin_in_flight",
            "Admitted calls on threads, and streams and waiting calls (no thread), in flight",
            labels=["kind"],
        )
        family.add_metric(["calls"], float(calls))
        family.add_metric(["streams"], float(streams))
        yield family


class PoolCollector(Collector):
    """The database connection pool, read when scraped."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.engine.pool
        read = {
            "size": "size",
            "checked_out": "checkedout",
            "idle": "checkedin",
            "overflow": "overflow",
        }
        family = GaugeMetricFamily(
            "fupin_db_pool_connections",
            "Database pool: configured size, connections in use, idle, overflow",
            labels=["state"],
        )
        for state, method in read.items():
            value = getattr(pool, method, None)
            if callable(value):
                family.add_metric([state], float(value()))
        yield family
