"""Fault scenarios of the registry (bench/faults.py): killed during a bulk import, killed among
commits, and its PostgreSQL restarted under clients."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench import data
from bench.common import matcher_channel
from bench.fault.context import COMMITTED, Context, Line, until_done
from clients.client import BUYERS, HOUSEHOLDS
from clients.errors import FupinClientError
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import resources_pb2 as pb

IMPORT_ROWS = 20_000


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
            resent = until_done(
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


# --- registry killed among commits -------------------------------------------------------------


def registry_kill_commit(ctx: Context, runs: int) -> Line:
    line = Line("registry_kill_commit")
    with matcher_channel(ctx.topology.matcher.address) as channel:
        matcher = mpb_grpc.MatcherServiceStub(channel)
        for r in range(runs):
            proposed = [_proposed_run(ctx, matcher, f"fc{r}x{j}") for j in range(4)]
            acked: dict[str, int] = {}

            def commit(run: mpb.MatchRun, acked: dict[str, int] = acked) -> None:
                request = mpb.CommitMatchRunRequest(
                    id=run.id, request_id=f"commit-{run.id}", etag=run.etag
                )
                done = until_done(lambda: matcher.CommitMatchRun(request, timeout=30))
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
    ctx.stock(product, 6, 3)
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
