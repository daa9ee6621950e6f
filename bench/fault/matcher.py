"""Fault scenario of the matcher (bench/faults.py): killed while a run is RUNNING."""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import suppress

import grpc

from bench.common import matcher_channel
from bench.fault.context import FAILED, RUNNING, Context, Line
from clients import auth
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc

# --- matcher killed mid-solve ------------------------------------------------------------------


def matcher_kill_solve(ctx: Context, runs: int) -> Line:
    line = Line("matcher_kill_solve")
    product = "bigsolve"
    ctx.stock(product, 30_000, 1500, import_timeout_s=600)
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
        with matcher_channel(ctx.topology.matcher.address) as channel:
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
