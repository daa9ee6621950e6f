"""MatcherService servicer: produce runs over the executor, persisted through RegistrySource.

MatchProduce blocks until its run ends (the solve itself runs in a worker process), so the
call's deadline bounds the solve; WatchMatchRun streams progress meanwhile.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import structlog

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from matcher.service import convert_produce as convert
from matcher.service.aid import AidRuns
from matcher.service.cadres import CadreRuns
from matcher.service.jobs import ProduceJob, solve_produce
from matcher.service.launch import Launcher, NewRun
from matcher.service.live import LiveRuns
from matcher.service.quick import QuickSourcer
from matcher.service.runner import Executor, Outcome, Progress
from matcher.service.source import Allocation, RegistrySource, RunRecord, RunState
from matcher.solvers import produce
from registry.access import policy as access
from registry.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from registry.resources import query
from registry.resources.servicer import checked_request_id
from registry.runs import scopes as run_scopes
from server.metrics import Metrics

log = structlog.get_logger(__name__)
RUN_ID = re.compile(r"[A-Za-z0-9_\-]{4,40}")
RUN_FILTERS = {"kind": ("kind", mpb.RunKind), "state": ("state", mpb.RunState)}
ENDED = (
    RunState.PROPOSED,
    RunState.COMMITTED,
    RunState.DISCARDED,
    RunState.FAILED,
    RunState.CANCELLED,
)
MAX_LISTINGS = 200_000
MAX_ORDERS = 20_000


def instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def fail_abandoned(source: RegistrySource) -> int:
    """Mark FAILED the active runs of matcher processes on this host that no longer exist."""
    failed = 0
    for state in (RunState.QUEUED, RunState.RUNNING):
        token = ""
        while True:
            page = query.parse_page(1000, token, "")
            records, token = source.list_runs(page=page, where={"state": state})
            for run in records:
                if _owner_gone(run.owner):
                    reason = f"the matcher solving it ({run.owner}) stopped"
                    source.update_run(run.id, state=RunState.FAILED, error=reason)
                    failed += 1
            if not token:
                break
    if failed:
        log.warning("runs_abandoned", count=failed)
    return failed


def _owner_gone(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's process: its own restart will tell
    if int(pid) == os.getpid():
        return True  # a predecessor with our pid (a restarted container is pid 1 again)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class MatcherServicer(CadreRuns, mpb_grpc.MatcherServiceServicer):
    def __init__(
        self,
        source: RegistrySource,
        executor: Executor,
        owner: str,
        limits: tuple[int, int] = (MAX_LISTINGS, MAX_ORDERS),
        metrics: Metrics | None = None,
    ) -> None:
        self.limits = limits  # most listings and orders in one problem
        self.source = source
        self.executor = executor
        self.owner = owner
        self.metrics = metrics or Metrics()
        self.live = LiveRuns(self.metrics)
        self.quick = QuickSourcer(source)
        self.launcher = Launcher(
            source, executor, self.live, owner, self._mark_running, self._await
        )
        self.aid = AidRuns(source, self.live, self.launcher)

    def MatchProduce(self, request: mpb.MatchProduceRequest, context: Any) -> mpb.MatchRun:
        params = convert.solve_params(request.parameters, context.time_remaining())
        run_id = _run_id(request.run_id)
        request_id = checked_request_id(request.request_id)
        started = time.perf_counter()
        problem = self._produce_problem(request)
        load_s = time.perf_counter() - started
        job = ProduceJob(
            problem,
            orders_per_listing=request.parameters.max_orders_per_listing,
            baseline=request.parameters.compare_baseline,
        )
        return self.launcher.launch(
            NewRun(run_id, mpb.PRODUCE, request, request_id),
            context,
            solve_produce,
            job,
            params,
            lambda outcome: self._finish(run_id, outcome, load_s),
            listings=len(problem.listings),
            orders=len(problem.orders),
        )

    def _produce_problem(self, request: mpb.MatchProduceRequest) -> produce.ProduceProblem:
        goal = convert.objective(request.parameters.objective)
        which = request.WhichOneof("source")
        if which == "inline":
            _check_size(len(request.inline.listings), len(request.inline.orders), self.limits)
            return convert.inline_problem(request.inline, goal)
        if which != "selection":
            raise InvalidArgument.one("source", "set either inline or selection")
        sel = request.selection
        if not sel.product:
            raise InvalidArgument.one("selection.product", "is required")
        convert.date("selection.today", sel.today)
        listings = self.source.open_listings(
            product=sel.product, region_code=sel.region_code, today=sel.today
        )
        orders = self.source.open_orders(product=sel.product, today=sel.today)
        _check_size(len(listings), len(orders), self.limits)
        return convert.registry_problem(sel, listings, orders, goal)

    def _mark_running(self, run_id: str) -> None:
        self.source.update_run(run_id, state=RunState.RUNNING)
        self.live.set_state(run_id, RunState.RUNNING)

    def _finish(self, run_id: str, outcome: Outcome, load_s: float) -> None:
        """Store how the run ended (on the executor's supervisor thread)."""
        fields: dict[str, Any] = {"total_s": outcome.wall_s + load_s, "load_s": load_s}
        allocations: list[Allocation] = []
        if outcome.cancelled:
            fields["state"] = RunState.CANCELLED
        elif outcome.error:
            fields.update(state=RunState.FAILED, error=outcome.error)
        else:
            result, baseline = outcome.result
            fields.update(_result_fields(result, baseline))
            allocations = [Allocation(a.listing_id, a.order_id, a.kg) for a in result.allocations]
        with self.live.ending(run_id, "produce", fields):
            self.source.update_run(run_id, allocations=allocations, **fields)

    def _await(self, run_id: str, context: Any) -> RunRecord:
        for _ in self._follow(run_id, context):
            pass
        return self.source.get_run(run_id)

    def _visible(self, run_id: str) -> RunRecord:
        """The caller's run (registry/runs/scopes.py): NOT_FOUND as for an unknown id if it may
        not see it. Every RPC naming a run starts here."""
        view = run_scopes.view_for(access.current())
        return self.source.get_run(_required(run_id), view=view)

    def GetMatchRun(self, request: mpb.GetMatchRunRequest, context: Any) -> mpb.MatchRun:
        return convert.run_proto(self._visible(request.id))

    def ListMatchRuns(self, request: Any, context: Any) -> mpb.ListMatchRunsResponse:
        where = query.parse_filter(request.filter, RUN_FILTERS)
        page = query.parse_page(request.page_size, request.page_token, request.filter)
        view = run_scopes.view_for(access.current())
        records, token = self.source.list_runs(page=page, where=where, view=view)
        response = mpb.ListMatchRunsResponse(next_page_token=token)
        response.runs.extend(convert.run_proto(r, with_result=False) for r in records)
        return response

    def WatchMatchRun(self, request: Any, context: Any) -> Iterator[mpb.MatchRunEvent]:
        run_id = self._visible(request.id).id  # NOT_FOUND before streaming anything
        for state, progress in self._follow(run_id, context):
            event = mpb.MatchRunEvent(state=state)  # type: ignore[arg-type]
            if progress is not None:
                event.objective, event.best_bound = progress.objective, progress.best_bound
                event.elapsed_s = progress.elapsed_s
            yield event
        final = self.source.get_run(run_id)
        yield mpb.MatchRunEvent(
            state=final.state,  # type: ignore[arg-type]
            objective=final.objective,
            best_bound=final.best_bound,
            elapsed_s=final.total_s,
            run=convert.run_proto(final),
        )

    def _follow(self, run_id: str, context: Any) -> Iterator[tuple[int, Progress | None]]:
        """Events of a run live in this process; otherwise poll storage until it ends."""
        active = threading.Event()
        active.set()
        context.add_callback(active.clear)
        if self.live.get(run_id) is not None:
            yield from self.live.follow(run_id, active=active)
            return
        state = 0
        while active.is_set():
            run = self.source.get_run(run_id)
            if run.state != state:
                state = run.state
                yield state, None
            if run.state in ENDED:
                return
            time.sleep(0.2)

    def CancelMatchRun(self, request: Any, context: Any) -> mpb.MatchRun:
        run = self._visible(request.id)
        run_id = run.id
        if run.state in ENDED:
            raise FailedPrecondition(f"run {run_id} is already {RunState(run.state).name}")
        handle = self.executor.get(run_id)
        if handle is not None and self.executor.cancel(run_id):
            handle.wait(30)
        elif run.owner != self.owner:
            raise FailedPrecondition(f"run {run_id} is being solved by {run.owner}")
        return convert.run_proto(self.source.get_run(run_id))

    def AllocateAid(self, request: mpb.AllocateAidRequest, context: Any) -> mpb.MatchRun:
        return self.aid.allocate(request, context, _run_id(request.run_id))

    def CommitMatchRun(self, request: Any, context: Any) -> mpb.MatchRun:
        request_id = checked_request_id(request.request_id)
        stored = self._visible(request.id)
        run_id = stored.id
        if stored.kind == mpb.AID:
            return self.aid.commit(stored, request_id, request.etag)
        if stored.kind in (mpb.CADRE_STATIONING, mpb.CADRE_CONTRACTING):
            run = self.source.commit_cadres(
                run_id, request_id=request_id, etag=request.etag, reader=access.current()
            )
        else:
            run = self.source.commit_produce(run_id, request_id=request_id, etag=request.etag)
        log.info("run_committed", run_id=run.id)
        return convert.run_proto(run)

    def DiscardMatchRun(self, request: Any, context: Any) -> mpb.MatchRun:
        run_id = self._visible(request.id).id
        return convert.run_proto(self.source.discard_run(run_id, etag=request.etag))

    def QuickSource(self, request: Any, context: Any) -> mpb.QuickSourceResponse:
        return self.quick.answer(request)


def _result_fields(
    result: produce.ProduceResult, baseline: produce.ProduceResult | None
) -> dict[str, Any]:
    status = convert.STATUS.get(result.status, mpb.NO_SOLUTION)
    proto = convert.produce_result(result)
    if baseline is not None:
        proto.baseline_kpis.CopyFrom(convert.produce_kpis(baseline.kpis))
        proto.baseline_objective = int(baseline.objective)
    return {
        "state": RunState.PROPOSED,
        "status": status,
        "objective": int(result.objective),
        "best_bound": float(result.bound if result.bound is not None else result.objective),
        "gap": float(result.gap or 0.0),
        "build_s": result.timings.build_s,
        "solve_s": result.timings.solve_s,
        "result": proto.SerializeToString(),
    }


def _check_size(listings: int, orders: int, limits: tuple[int, int]) -> None:
    most_listings, most_orders = limits
    if listings > most_listings:
        raise ResourceExhausted(
            f"at most {most_listings} listings per run (max_problem_listings), got {listings}"
        )
    if orders > most_orders:
        raise ResourceExhausted(
            f"at most {most_orders} orders per run (max_problem_orders), got {orders}"
        )


def _run_id(value: str) -> str:
    if not value:
        return f"run-{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"
    if not RUN_ID.fullmatch(value):
        raise InvalidArgument.one("run_id", "must be 4-40 letters, digits, '-' or '_'")
    return value


def _required(run_id: str) -> str:
    if not run_id:
        raise InvalidArgument.one("id", "is required")
    if not RUN_ID.fullmatch(run_id):
        raise InvalidArgument.one("id", "is not a valid run id (4-40 letters, digits, - or _)")
    return run_id


def add_to_server(
    source: RegistrySource,
    server: grpc.Server,
    *,
    max_parallel: int = 2,
    solver_nice: int = 0,
    limits: tuple[int, int] = (MAX_LISTINGS, MAX_ORDERS),
    metrics: Metrics | None = None,
) -> tuple[str, MatcherServicer]:
    owner = instance_id()
    fail_abandoned(source)
    executor = Executor(max_parallel, nice=solver_nice)
    executor.warm_up()
    servicer = MatcherServicer(source, executor, owner, limits, metrics)
    mpb_grpc.add_MatcherServiceServicer_to_server(servicer, server)
    return str(mpb.DESCRIPTOR.services_by_name["MatcherService"].full_name), servicer
