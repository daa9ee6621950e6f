"""Faults on the split deployment: kill the registry, restart PostgreSQL, kill the matcher.

    python bench/faults.py [--runs 20] [--scenarios registry_kill_import,...]

Everything runs on a throwaway PostgreSQL cluster (initdb into a temporary folder, its own
port), so restarting it disturbs no one else; the registry and the matcher are separate
processes on loopback (bench/topology.py). Every check reads the database directly. One JSON
line per scenario with bench, scenario, runs, lost, duplicated, half_written, recovered_s (the
worst run; recovered_p50_s the median) and what else the scenario counts:

- registry_kill_import: SIGKILL the registry during a bulk household import (one transaction),
  restart it, resend the import with the same request_id. half_written: a batch found with
  neither 0 nor all of its rows after the kill; duplicated: more than all after the resend;
  lost: fewer. recovered_s: kill until the resent import is acknowledged.
- registry_kill_commit: four produce runs are committed at once through the matcher; the
  registry is SIGKILLed among them and restarted; each client retries its commit with the same
  request_id until acknowledged. lost: an acknowledged commit not COMMITTED; duplicated:
  reservations or ledger entries beyond the run's allocations (applied twice); half_written:
  some but not all of a run's reservations or ledger entries.
- postgres_restart: eight clients create buyers (each keyed by its own request_id, retried
  until acknowledged) and read them while PostgreSQL restarts (pg_ctl restart -m fast).
  lost: acknowledged buyers missing; duplicated: a request_id stored twice; server_unavailable:
  calls the registry answered UNAVAILABLE (from its /metrics), client_unavailable: those still
  failing after the channel's retries, other_codes: failures other than UNAVAILABLE (calls
  must fail UNAVAILABLE, then succeed).
  recovered_s: restart start until calls succeed again.
- matcher_kill_solve: SIGKILL the matcher while a run is RUNNING, restart it: the run must be
  FAILED (lost: it is not) with no allocations (half_written), and the same selection must
  solve again (not_rerun). recovered_s: kill until the run is FAILED.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

import grpc
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, text

from bench import data
from bench.cluster import Cluster, sqlalchemy_url, throwaway_cluster
from bench.load import _listing, _order, _producer
from bench.topology import Topology
from clients import auth
from clients.client import (
    BUYERS,
    HOUSEHOLDS,
    LISTINGS,
    ORDERS,
    PRODUCERS,
    RegistryClient,
    channel_options,
)
from clients.errors import FupinClientError, UnavailableError, from_rpc_error
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import resources_pb2 as pb

IMPORT_ROWS = 20_000
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    names = args.scenarios.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    with (
        throwaway_cluster() as cluster,
        tempfile.TemporaryDirectory(prefix="fupin-faults-") as workdir,
        Topology(cluster.url("fupin"), Path(workdir)) as topology,
    ):
        context = setup(topology, cluster, args.seed)
        for name in names:
            _say(f"faults: {name} x {args.runs}")
            print(SCENARIOS[name](context, args.runs).json(), flush=True)
        context.db.dispose()
    return 0


def setup(topology: Topology, cluster: Cluster, seed: int) -> Context:
    rng = random.Random(seed)
    with RegistryClient(topology.registry.address, import_timeout_s=600) as client:
        village_ids = data.create_villages(client, 10, seed)
        households = list(client.import_rows(HOUSEHOLDS, data.households(village_ids, 100)).ids)
        producer_ids = [client.create(PRODUCERS, _producer(rng, h)).id for h in households[:20]]
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


# --- registry killed during a bulk import ------------------------------------------------------


def registry_kill_import(ctx: Context, runs: int) -> Line:
    line = Line("registry_kill_import")
    for r in range(runs):
        batch = 5000 + r
        rows = list(data.households(ctx.village_ids, IMPORT_ROWS, seed=batch))
        request_id = f"faults-import-{batch}-{uuid.uuid4().hex[:6]}"
        outcome: dict[str, Any] = {}
        worker = threading.Thread(target=_import, args=(ctx, rows, request_id, outcome))
        worker.start()
        time.sleep(ctx.rng.uniform(0.05, 4.0))  # before, during or after the commit
        killed_at = time.perf_counter()
        ctx.topology.registry.kill()
        worker.join()
        pattern = f"B{batch:04d}-%"
        after_kill = ctx.scalar(
            "SELECT count(*) FROM household WHERE card_number LIKE :p", p=pattern
        )
        line.half_written += after_kill not in (0, IMPORT_ROWS)
        line.lost += outcome.get("imported") == IMPORT_ROWS and after_kill != IMPORT_ROWS
        line.count("acknowledged_before_kill", outcome.get("imported") == IMPORT_ROWS)
        line.count("stored_when_killed", after_kill == IMPORT_ROWS)
        ctx.topology.registry.start()
        with ctx.registry(import_timeout_s=120) as client:
            resent = _until_done(
                lambda c=client, x=rows, k=request_id: c.import_rows(HOUSEHOLDS, x, request_id=k)
            )
        line.recovered.append(time.perf_counter() - killed_at)
        final = ctx.scalar("SELECT count(*) FROM household WHERE card_number LIKE :p", p=pattern)
        line.duplicated += final > IMPORT_ROWS
        line.lost += final < IMPORT_ROWS or resent.imported != IMPORT_ROWS
        line.runs += 1
    return line


def _import(ctx: Context, rows: list[Any], request_id: str, outcome: dict[str, Any]) -> None:
    """The first attempt, which the kill interrupts (or not): its outcome, as the client saw it."""
    with ctx.registry(import_timeout_s=60) as client:
        try:
            response = client.import_rows(HOUSEHOLDS, rows, request_id=request_id)
            outcome["imported"] = response.imported
        except FupinClientError as exc:
            outcome["error"] = exc.code.name


def _until_done(call: Callable[[], Any], timeout_s: float = 120) -> Any:
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


# --- registry killed among commits -------------------------------------------------------------


def registry_kill_commit(ctx: Context, runs: int) -> Line:
    line = Line("registry_kill_commit")
    with auth.open_channel(
        ctx.topology.matcher.address, api_key=auth.resolve_key(), options=channel_options()
    ) as channel:
        matcher = mpb_grpc.MatcherServiceStub(channel)
        for r in range(runs):
            proposed = [_proposed_run(ctx, matcher, f"fc{r}x{j}") for j in range(4)]
            acked: dict[str, int] = {}

            def commit(run: mpb.MatchRun, acked: dict[str, int] = acked) -> None:
                request = mpb.CommitMatchRunRequest(
                    id=run.id, request_id=f"commit-{run.id}", etag=run.etag
                )
                done = _until_done(lambda: matcher.CommitMatchRun(request, timeout=30))
                acked[run.id] = done.state

            workers = [threading.Thread(target=commit, args=(run,)) for run in proposed]
            for worker in workers:
                worker.start()
            time.sleep(ctx.rng.uniform(0.0, 0.08))
            killed_at = time.perf_counter()
            ctx.topology.registry.kill()
            line.count("acknowledged_before_kill", len(acked))
            time.sleep(0.2)
            ctx.topology.registry.start()
            for worker in workers:
                worker.join()
            line.recovered.append(time.perf_counter() - killed_at)
            for run in proposed:
                state, allocated, reserved, _ledger, allocations, ledger_rows = _commit_facts(
                    ctx, run
                )
                line.lost += acked.get(run.id) == COMMITTED and state != COMMITTED
                line.count("unacknowledged", run.id not in acked)
                line.duplicated += reserved > allocated or ledger_rows > allocations
                if state == COMMITTED:
                    line.half_written += reserved < allocated or ledger_rows < allocations
                else:
                    line.half_written += reserved > 0 or ledger_rows > 0
            line.runs += 1
    return line


def _proposed_run(ctx: Context, matcher: Any, product: str) -> mpb.MatchRun:
    """A PROPOSED run over a product of its own: 6 listings, 3 orders, no one else's."""
    with ctx.registry() as client:
        rows = [_listing(ctx.rng, ctx.rng.choice(ctx.producer_ids)) for _ in range(6)]
        for row in rows:
            row.product = product
        client.import_rows(LISTINGS, rows)
        for _ in range(3):
            order = _order(ctx.rng, ctx.rng.choice(ctx.buyer_ids))
            order.product = product
            client.create(ORDERS, order)
    request = mpb.MatchProduceRequest(
        selection=mpb.RegistrySelection(product=product, today="2020-05-20"),
        parameters=mpb.SolveParameters(time_limit_s=10),
        request_id=f"match-{product}-{uuid.uuid4().hex[:6]}",
    )
    run = matcher.MatchProduce(request, timeout=60)
    if run.state != mpb.PROPOSED or not run.produce.allocations:
        raise SystemExit(
            f"setup: run {run.id} is {mpb.RunState.Name(run.state)} with no allocation"
        )
    return run  # type: ignore[no-any-return]


def _commit_facts(ctx: Context, run: mpb.MatchRun) -> tuple[int, int, int, int, int, int]:
    """State, kg allocated, kg reserved on its listings, ledger kg, allocation and ledger rows."""
    state = ctx.scalar("SELECT state FROM match_run WHERE id = :r", r=run.id)
    allocated = ctx.scalar(
        "SELECT coalesce(sum(kg), 0) FROM run_allocation WHERE run_id = :r", r=run.id
    )
    reserved = ctx.scalar(
        """SELECT coalesce(sum(reserved_kg), 0) FROM listing WHERE id IN
           (SELECT listing_id FROM run_allocation WHERE run_id = :r)""",
        r=run.id,
    )
    ledger = ctx.scalar(
        "SELECT coalesce(sum(quantity), 0) FROM ledger_entry WHERE run_id = :r", r=run.id
    )
    rows = ctx.scalar("SELECT count(*) FROM run_allocation WHERE run_id = :r", r=run.id)
    ledger_rows = ctx.scalar("SELECT count(*) FROM ledger_entry WHERE run_id = :r", r=run.id)
    return state, allocated, reserved, ledger, rows, ledger_rows


# --- PostgreSQL restarted under clients --------------------------------------------------------


@dataclass
class Writers:
    """Clients creating buyers (each request_id retried until acknowledged) and reading them."""

    ctx: Context
    tag: str
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    successes: list[float] = field(default_factory=list)

    def run(self, i: int) -> None:
        with self.ctx.registry(timeout_s=5) as registry:
            n = 0
            while not self.stop.is_set():
                key = f"{self.tag}-{i}-{n}"
                n += 1
                while True:  # the same request_id until acknowledged
                    try:
                        buyer = registry.create(BUYERS, _buyer(key), request_id=key)
                        registry.get(BUYERS, buyer.id)
                    except FupinClientError as exc:
                        with self.lock:
                            self.codes.append(exc.code.name)
                        time.sleep(0.05)
                        continue
                    with self.lock:
                        self.acked.append(key)
                        self.successes.append(time.perf_counter())
                    break

    def first_success_after(self, moment: float, timeout_s: float) -> float:
        deadline = moment + timeout_s
        while time.perf_counter() < deadline:
            with self.lock:
                after = [t for t in self.successes if t > moment]
            if after:
                return min(after)
            time.sleep(0.01)
        return deadline


def postgres_restart(ctx: Context, runs: int) -> Line:
    line = Line("postgres_restart")
    for r in range(runs):
        writers = Writers(ctx, f"pg{r}")
        threads = [threading.Thread(target=writers.run, args=(i,), daemon=True) for i in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        unavailable_before = ctx.registry_calls("UNAVAILABLE")
        restart_at = time.perf_counter()
        ctx.cluster.restart()
        first = writers.first_success_after(time.perf_counter(), 60)
        line.recovered.append(first - restart_at)
        time.sleep(0.5)
        writers.stop.set()
        for thread in threads:
            thread.join()
        line.count("server_unavailable", ctx.registry_calls("UNAVAILABLE") - unavailable_before)
        line.count("client_unavailable", writers.codes.count("UNAVAILABLE"))
        line.count("other_codes", sum(c != "UNAVAILABLE" for c in writers.codes))
        for code in {c for c in writers.codes if c != "UNAVAILABLE"}:  # named, so they can be told
            line.count(f"code_{code}", writers.codes.count(code))
        stored = ctx.counts(
            "SELECT display_name, count(*) FROM buyer WHERE display_name LIKE :p "
            "GROUP BY display_name",
            p=f"{writers.tag}-%",
        )
        line.lost += sum(key not in stored for key in writers.acked)
        line.duplicated += sum(n > 1 for n in stored.values())
        line.count("acknowledged", len(writers.acked))
        line.runs += 1
    return line


def _buyer(key: str) -> pb.Buyer:
    return pb.Buyer(
        kind=pb.RETAILER,
        display_name=key,
        county_code="445281",
        location=pb.LatLng(latitude=23.3, longitude=116.2),
    )


# --- matcher killed mid-solve ------------------------------------------------------------------


def matcher_kill_solve(ctx: Context, runs: int) -> Line:
    line = Line("matcher_kill_solve")
    product = "bigsolve"
    with ctx.registry(import_timeout_s=600) as client:
        rows = [_listing(ctx.rng, ctx.rng.choice(ctx.producer_ids)) for _ in range(30_000)]
        for row in rows:
            row.product = product
        client.import_rows(LISTINGS, rows)
        for _ in range(1500):
            order = _order(ctx.rng, ctx.rng.choice(ctx.buyer_ids))
            order.product = product
            client.create(ORDERS, order)
    selection = mpb.RegistrySelection(product=product, today="2020-05-20")
    attempts = 0
    while line.runs < runs and attempts < runs * 3:
        attempts += 1
        run_id = f"kill-{attempts}-{uuid.uuid4().hex[:6]}"
        request = mpb.MatchProduceRequest(
            selection=selection, run_id=run_id, parameters=mpb.SolveParameters(time_limit_s=30)
        )
        worker = threading.Thread(
            target=_ignore_failure, args=(ctx.topology.matcher.address, request)
        )
        worker.start()
        if not _wait_state(ctx, run_id, RUNNING, 60):
            worker.join()
            line.count("finished_before_kill")
            continue
        time.sleep(ctx.rng.uniform(0, 0.2))
        killed_at = time.perf_counter()
        ctx.topology.matcher.kill()
        worker.join()
        ctx.topology.matcher.start()
        marked = _wait_state(ctx, run_id, FAILED, 30)
        line.recovered.append(time.perf_counter() - killed_at)
        line.lost += not marked
        line.half_written += (
            ctx.scalar("SELECT count(*) FROM run_allocation WHERE run_id = :r", r=run_id) > 0
        )
        with auth.open_channel(
            ctx.topology.matcher.address, api_key=auth.resolve_key(), options=channel_options()
        ) as channel:
            again = mpb_grpc.MatcherServiceStub(channel).MatchProduce(
                mpb.MatchProduceRequest(
                    selection=selection, parameters=mpb.SolveParameters(time_limit_s=30)
                ),
                timeout=120,
            )
        line.count("not_rerun", again.state != mpb.PROPOSED)
        line.runs += 1
    return line


def _ignore_failure(address: str, request: mpb.MatchProduceRequest) -> None:
    # No retries: the matcher is about to die.
    key = auth.resolve_key()
    with auth.open_channel(address, api_key=key) as channel, suppress(grpc.RpcError):
        mpb_grpc.MatcherServiceStub(channel).MatchProduce(request, timeout=120)


def _wait_state(ctx: Context, run_id: str, state: int, timeout_s: float) -> bool:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        now = ctx.scalar("SELECT state FROM match_run WHERE id = :r", r=run_id)
        if now == state:
            return True
        if now is not None and now not in (1, 2):  # ended otherwise
            return False
        time.sleep(0.01)
    return False


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")


SCENARIOS: dict[str, Callable[[Context, int], Line]] = {
    "registry_kill_import": registry_kill_import,
    "registry_kill_commit": registry_kill_commit,
    "postgres_restart": postgres_restart,
    "matcher_kill_solve": matcher_kill_solve,
}

if __name__ == "__main__":
    sys.exit(main())
