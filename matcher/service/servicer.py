"""MatcherService servicer: every kind of run over one executor, kept through RegistrySource.

The RPCs that start a run (MatchProduce, AllocateAid, AssignCadres, ContractHouseholds) hand
their kind (kinds.py) to the launcher (launch.py) and answer once the run ends (the solve runs
in a worker process), so the call's deadline bounds the solve; WatchMatchRun streams progress
meanwhile. These are coroutines: they wait on the server's event loop and hold no thread
(server/loop.py). The RPCs that name a run work on every kind alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import structlog

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from matcher.service import aid, contracting, produce, stationing, views
from matcher.service.convert import run_proto
from matcher.service.kinds import Limit, RunKind, run_id_of, stored_run_ids
from matcher.service.launch import Launcher
from matcher.service.live import LiveRuns, RunMetrics
from matcher.service.quick import QuickSourcer
from matcher.service.runner import Executor, Progress
from matcher.service.source import RegistrySource, RunRecord, RunState
from registry.access import policy as access
from registry.errors import FailedPrecondition, NotFound, PermissionDenied
from registry.resources import query
from registry.resources.requests import checked_request_id
from registry.runs import scopes as run_scopes

log = structlog.get_logger(__name__)
RUN_FILTERS = {"kind": ("kind", mpb.RunKind), "state": ("state", mpb.RunState)}
ENDED = (
    RunState.PROPOSED,
    RunState.COMMITTED,
    RunState.DISCARDED,
    RunState.FAILED,
    RunState.CANCELLED,
)
KINDS = {k.kind: k for k in (produce.KIND, aid.KIND, stationing.KIND, contracting.KIND)}
# A run another process solves is read from storage at most this often, for all its watchers.
POLL_S = 0.25


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


class MatcherServicer(mpb_grpc.MatcherServiceServicer):
    def __init__(
        self,
        source: RegistrySource,
        executor: Executor,
        owner: str,
        kinds: dict[int, RunKind] = KINDS,
        metrics: RunMetrics | None = None,
        max_message_bytes: int = 64 << 20,
    ) -> None:
        self.kinds = kinds
        self.max_message_bytes = max_message_bytes
        self.source = source
        self.executor = executor
        self.owner = owner
        self.live = LiveRuns(metrics)
        self.quick = QuickSourcer(source)
        self.launcher = Launcher(source, executor, self.live, owner, self._await)
        self._reads: dict[str, tuple[float, asyncio.Future[RunRecord]]] = {}
        self.parsed = views.ParsedResults()

    async def MatchProduce(self, request: mpb.MatchProduceRequest, context: Any) -> mpb.MatchRun:
        views.check(request.view)
        run = await self.launcher.launch(self.kinds[mpb.PRODUCE], request, context)
        return self._answer(run, request.view)

    def _answer(self, run: mpb.MatchRun, view: int = 0) -> mpb.MatchRun:
        """The run as much as ``view`` asks (0: unset) and the message limit allows (views.py)."""
        return views.answer(run, view, self.max_message_bytes)

    async def AllocateAid(self, request: mpb.AllocateAidRequest, context: Any) -> mpb.MatchRun:
        return self._answer(await self.launcher.launch(self.kinds[mpb.AID], request, context))

    async def AssignCadres(self, request: mpb.AssignCadresRequest, context: Any) -> mpb.MatchRun:
        return await self.launcher.launch(self.kinds[mpb.CADRE_STATIONING], request, context)

    async def ContractHouseholds(
        self, request: mpb.ContractHouseholdsRequest, context: Any
    ) -> mpb.MatchRun:
        return await self.launcher.launch(self.kinds[mpb.CADRE_CONTRACTING], request, context)

    async def _await(self, run_id: str) -> RunRecord:
        async for _ in self._follow(run_id):
            pass
        return await asyncio.to_thread(self.source.get_run, run_id)

    def _visible(self, run_id: str) -> RunRecord:
        """The caller's run (registry/runs/scopes.py): NOT_FOUND as for an unknown id if it may
        not see it. Every RPC naming a run starts here."""
        view = run_scopes.view_for(access.current())
        *scoped, last = stored_run_ids(run_id_of(run_id))
        for candidate in scoped:
            try:
                return self.source.get_run(candidate, view=view)
            except NotFound:
                continue
        return self.source.get_run(last, view=view)

    def GetMatchRun(self, request: mpb.GetMatchRunRequest, context: Any) -> mpb.MatchRun:
        views.check(request.view)
        return self._answer(for_caller(run_proto(self._visible(request.id))), request.view)

    def ListRunAllocations(self, request: Any, context: Any) -> mpb.ListRunAllocationsResponse:
        items, token, total = self._list_page("allocations", request)
        return mpb.ListRunAllocationsResponse(
            allocations=items, next_page_token=token, total_size=total
        )

    def ListRunUnsold(self, request: Any, context: Any) -> mpb.ListRunUnsoldResponse:
        items, token, total = self._list_page("unsold", request)
        return mpb.ListRunUnsoldResponse(unsold=items, next_page_token=token, total_size=total)

    def _list_page(self, name: str, request: Any) -> tuple[list[Any], str, int]:
        """A page of the caller's run's list ``name`` (views.page). The stored result is parsed
        once per stored version of the run (views.ParsedResults): a province run's is about
        70 MB, and parsing it again for each of its hundred pages cost more than the pages."""
        at = views.parse_page(name, request)
        record = self._visible(request.parent)
        rows = self.parsed.rows(record, name)
        caller = access.current()
        if caller.role is access.Role.COOPERATIVE:  # as for_caller: its own listings' rows
            rows = [row for row in rows if row.producer_id == caller.scope]
        return views.page(record, name, rows, request, at)

    def ListMatchRuns(self, request: Any, context: Any) -> mpb.ListMatchRunsResponse:
        where = query.parse_filter(request.filter, RUN_FILTERS)
        page = query.parse_page(request.page_size, request.page_token, request.filter)
        view = run_scopes.view_for(access.current())
        records, token = self.source.list_runs(page=page, where=where, view=view)
        response = mpb.ListMatchRunsResponse(next_page_token=token)
        response.runs.extend(run_proto(r, with_result=False) for r in records)
        return response

    async def WatchMatchRun(self, request: Any, context: Any) -> AsyncIterator[mpb.MatchRunEvent]:
        # NOT_FOUND before streaming anything
        run_id = (await asyncio.to_thread(self._visible, request.id)).id
        async for state, progress in self._follow(run_id):
            if progress is None and state in ENDED:
                break  # the last event says it, with the run and its figures
            event = mpb.MatchRunEvent(state=state)  # type: ignore[arg-type]
            if progress is not None:
                event.objective, event.best_bound = progress.objective, progress.best_bound
                event.elapsed_s = progress.elapsed_s
            yield event
        final = await asyncio.to_thread(self.source.get_run, run_id)
        yield mpb.MatchRunEvent(
            state=final.state,  # type: ignore[arg-type]
            objective=final.objective,
            best_bound=final.best_bound,
            elapsed_s=final.total_s,
            run=self._answer(for_caller(run_proto(final))),
        )

    async def _follow(self, run_id: str) -> AsyncIterator[tuple[int, Progress | None]]:
        """Events of a run live in this process; otherwise poll storage until it ends."""
        if self.live.get(run_id) is not None:
            async for item in self.live.follow(run_id):
                yield item
            return
        state = 0
        while True:
            run = await self._read(run_id)
            if run.state != state:
                state = run.state
                yield state, None
            if run.state in ENDED:
                return
            await asyncio.sleep(POLL_S)

    async def _read(self, run_id: str) -> RunRecord:
        """The stored run, read at most once per POLL_S for all the calls that wait for it
        (a thousand watchers of one run cost one read, not a thousand)."""
        now = time.monotonic()
        last = self._reads.get(run_id)
        if last is None or now - last[0] >= POLL_S:
            if len(self._reads) > 1000:  # forget the runs nobody asked for lately
                self._reads = {k: v for k, v in self._reads.items() if now - v[0] < POLL_S}
            read = asyncio.ensure_future(asyncio.to_thread(self.source.get_run, run_id))
            last = self._reads[run_id] = (now, read)
        return await asyncio.shield(last[1])

    def _changeable(self, run_id: str) -> RunRecord:
        """A run the caller may commit, discard or cancel: a platform only the runs it made."""
        run = self._visible(run_id)
        caller = access.current()
        if caller.role is access.Role.OFFICE and run.kind == mpb.PRODUCE:
            raise PermissionDenied(
                "role office reads the produce runs that sell its producers' produce; the "
                "platform that made the run, or an admin, commits, discards or cancels it"
            )
        if caller.role is access.Role.PLATFORM and run.scope != caller.scope:
            raise PermissionDenied(
                f"role platform may commit, discard or cancel only the runs it made; run "
                f"{run.id} was made by another caller (read it with GetMatchRun)"
            )
        return run

    def CancelMatchRun(self, request: Any, context: Any) -> mpb.MatchRun:
        run = self._changeable(request.id)
        run_id = run.id
        if run.state in ENDED:
            raise FailedPrecondition(f"run {run_id} is already {RunState(run.state).name}")
        handle = self.executor.get(run_id)
        if handle is not None and self.executor.cancel(run_id):
            handle.wait(30)
        elif run.owner != self.owner:
            raise FailedPrecondition(f"run {run_id} is being solved by {run.owner}")
        return self._answer(run_proto(self.source.get_run(run_id)))

    def CommitMatchRun(self, request: Any, context: Any) -> mpb.MatchRun:
        request_id = checked_request_id(request.request_id)
        stored = self._changeable(request.id)
        kind = self.kinds[stored.kind]
        run = kind.commit(self.source, stored, request_id, request.etag, access.current())
        log.info("run_committed", run_id=run.id, kind=kind.label)
        return self._answer(run_proto(run))

    def DiscardMatchRun(self, request: Any, context: Any) -> mpb.MatchRun:
        run_id = self._changeable(request.id).id
        return self._answer(run_proto(self.source.discard_run(run_id, etag=request.etag)))

    def QuickSource(self, request: Any, context: Any) -> mpb.QuickSourceResponse:
        return self.quick.answer(request)


def for_caller(run: mpb.MatchRun) -> mpb.MatchRun:
    """A cooperative sees of a produce run what became of its own listings: its allocations
    (buyer, price, pickup days) and its unsold listings (reason, floor), nothing of others'
    trade; everyone else the whole run."""
    caller = access.current()
    if caller.role is not access.Role.COOPERATIVE or not run.HasField("produce"):
        return run
    own = caller.scope
    result = run.produce
    allocations = [a for a in result.allocations if a.producer_id == own]
    unsold = [u for u in result.unsold if u.producer_id == own]
    result.Clear()
    result.allocations.extend(allocations)
    result.unsold.extend(unsold)
    run.objective, run.best_bound, run.gap = 0, 0.0, 0.0
    return run


def add_to_server(
    source: RegistrySource,
    server: grpc.Server,
    *,
    max_parallel: int = 2,
    solver_nice: int = 0,
    solver_heap_mb: int = 0,
    limits: tuple[int, int] | None = None,
    metrics: RunMetrics | None = None,
    max_message_bytes: int = 64 << 20,
) -> tuple[str, MatcherServicer]:
    """Serve MatcherService; ``limits`` (listings, orders) override the produce kind's;
    answers larger than ``max_message_bytes`` (the server's limit) are summaries (views.py)."""
    owner = instance_id()
    fail_abandoned(source)
    executor = Executor(max_parallel, nice=solver_nice, heap_mb=solver_heap_mb)
    executor.warm_up()
    kinds = dict(KINDS)
    if limits is not None:
        listings, orders = limits
        produce_limits = {
            "listings": Limit(listings, "max_problem_listings"),
            "orders": Limit(orders, "max_problem_orders"),
        }
        kinds[mpb.PRODUCE] = dataclasses.replace(produce.KIND, limits=produce_limits)
    servicer = MatcherServicer(source, executor, owner, kinds, metrics, max_message_bytes)
    mpb_grpc.add_MatcherServiceServicer_to_server(servicer, server)
    return str(mpb.DESCRIPTOR.services_by_name["MatcherService"].full_name), servicer
