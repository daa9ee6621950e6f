"""Starting and ending a run, the same for every kind (kinds.py): check the request and make
it a problem; create the run in the registry, or find the one an earlier call with the same
request id made; count it live; solve it in a solver process; cancel it if the caller goes
away; store how it ended; answer with the run once it has ended.

The caller's wait is a coroutine on the server's event loop: it holds no thread while the
run is queued or solving. The steps that read or write the registry run on a thread
(`asyncio.to_thread`, the loop's small pool of wait workers: server/loop.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from google.protobuf.wrappers_pb2 import StringValue

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service.convert import run_proto, solve_params
from matcher.service.kinds import Prepared, RunKind, new_run_id
from matcher.service.live import LiveRuns, from_any_thread
from matcher.service.runner import Executor, Outcome
from matcher.service.source import RegistrySource, RunRecord, RunState
from registry.access import policy as access
from registry.resources.requests import checked_request_id, fingerprint

log = structlog.get_logger(__name__)


class Launcher:
    """Starts runs of any kind for the matcher servicer (module doc)."""

    def __init__(
        self,
        source: RegistrySource,
        executor: Executor,
        live: LiveRuns,
        owner: str,
        await_run: Callable[[str], Awaitable[RunRecord]],
    ) -> None:
        self.source = source
        self.executor = executor
        self.live = live
        self.owner = owner
        self.await_run = await_run

    async def launch(self, kind: RunKind, request: Any, context: Any) -> mpb.MatchRun:
        """Solve the run ``request`` asks for and answer with it once it has ended; a retry of
        the same request waits for the first call's run instead. If the caller goes away (or
        its deadline passes) first, the solve is cancelled."""
        params = solve_params(request.parameters, context.time_remaining())
        run_id = new_run_id(request.run_id)
        request_id = checked_request_id(request.request_id)
        started = time.perf_counter()
        prepared = await asyncio.to_thread(
            kind.prepare, request, self.source, access.current(), kind.limits
        )
        load_s = time.perf_counter() - started
        # The region of an aid or cadre run is bound into the fingerprint: the same request id
        # and request from another region is a different request (ALREADY_EXISTS), never a
        # replay of a run the caller may not see.
        # Only a request id is ever compared with a fingerprint: without one, hashing a
        # 10 MB inline problem serialised it once more for nothing.
        marks = () if prepared.scope is None else (StringValue(value=prepared.scope),)
        marked = fingerprint(request, *marks) if request_id else ""
        run, created = await asyncio.to_thread(
            self.source.create_run,
            run_id=run_id,
            kind=kind.kind,
            parameters=request.parameters.SerializeToString(deterministic=True),
            owner=self.owner,
            request_id=request_id,
            fingerprint=marked,
            scope=prepared.scope or "",
            owner_key_id=access.current().key_id,
        )
        if not created:  # a retry: wait for the first call's run instead of solving again
            return run_proto(await self.await_run(run.id))
        self.live.start(run_id, kind.label, time_limit_s=params.time_limit_s, **prepared.sizes)
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[None] = loop.create_future()
        saved: list[RunRecord] = []  # the run as stored at its end: the answer, read no more

        resolve = from_any_thread(loop, lambda: _resolve(stored))

        def on_done(outcome: Outcome) -> None:  # on the executor's supervisor thread
            try:
                saved.append(self._end(kind, run_id, prepared, outcome, load_s))
            finally:
                resolve()

        handle = self.executor.submit(
            run_id,
            kind.solve,
            prepared.job,
            params,
            on_progress=lambda p: self.live.publish(run_id, p),
            on_start=lambda: self._mark_running(run_id),
            on_done=on_done,
        )
        try:
            await asyncio.shield(stored)
        except asyncio.CancelledError:  # the caller left: the solve ends, its end is stored
            if not handle.done:
                self.executor.cancel(run_id)
            raise
        if saved:  # its result message is parsed off the loop, as a read's would be
            return await asyncio.to_thread(run_proto, saved[0])
        return run_proto(await asyncio.to_thread(self.source.get_run, run_id))

    def _mark_running(self, run_id: str) -> None:
        self.source.update_run(run_id, state=RunState.RUNNING)
        self.live.set_state(run_id, RunState.RUNNING)

    def _end(
        self, kind: RunKind, run_id: str, prepared: Prepared, outcome: Outcome, load_s: float
    ) -> RunRecord:
        """Store how the run ended (on the executor's supervisor thread); the stored run."""
        fields: dict[str, Any] = {"total_s": outcome.wall_s + load_s, "load_s": load_s}
        rows: Any = ()
        if outcome.cancelled:
            fields["state"] = RunState.CANCELLED
        elif outcome.error:
            fields.update(state=RunState.FAILED, error=outcome.error)
        else:
            try:
                ended = prepared.ended(outcome.result)
            except Exception as exc:  # never leave the run RUNNING
                log.exception("run_result_failed", run_id=run_id)
                fields.update(state=RunState.FAILED, error=f"{type(exc).__name__}: {exc}")
            else:
                fields.update(ended.fields)
                rows = ended.rows
        with self.live.ending(run_id, kind.label, fields):
            return kind.save(self.source, run_id, fields, rows)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
