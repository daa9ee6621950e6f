"""Starting a run, the same for every kind (produce, aid, cadre stationing and contracting):
create it in the registry, or find the one an earlier call with the same request id made; count
it live; solve it in a solver process; cancel it if the caller goes away; answer with the run
once it has ended. What differs by kind (the problem, the solve, how its end is stored) the
servicers pass in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.wrappers_pb2 import StringValue

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import convert_produce as convert
from matcher.service.live import LiveRuns
from matcher.service.runner import Executor, Outcome
from matcher.service.source import RegistrySource, RunRecord
from matcher.solvers.common.solving import SolveParams
from registry.resources.servicer import fingerprint


@dataclass(frozen=True)
class NewRun:
    """A run about to start: its id, its kind (``mpb.RunKind``) and the request that asks for
    it (its parameters are stored, its request id and fingerprint make retries find it)."""

    run_id: str
    kind: int
    request: Any
    request_id: str  # checked (registry.resources.servicer.checked_request_id)
    # The region of an aid or cadre run (registry/runs/scopes.py), None for a produce run. It is
    # bound into the fingerprint: the same request id and request from another region is a
    # different request (ALREADY_EXISTS), never a replay of a run the caller may not see.
    scope: str | None = None

    @property
    def label(self) -> str:
        """The kind in log lines and metrics: produce, aid, cadre_stationing, ..."""
        return mpb.RunKind.Name(self.kind).lower()  # type: ignore[arg-type]


class Launcher:
    """Starts runs for the matcher servicer (module doc)."""

    def __init__(
        self,
        source: RegistrySource,
        executor: Executor,
        live: LiveRuns,
        owner: str,
        mark_running: Callable[[str], None],
        await_run: Callable[[str, Any], RunRecord],
    ) -> None:
        self.source = source
        self.executor = executor
        self.live = live
        self.owner = owner
        self.mark_running = mark_running
        self.await_run = await_run

    def launch(
        self,
        new: NewRun,
        context: Any,
        solve: Callable[[Any, SolveParams], Any],
        job: Any,
        params: SolveParams,
        on_done: Callable[[Outcome], None],
        **sizes: int,
    ) -> mpb.MatchRun:
        """Run ``solve(job, params)`` as run ``new`` and answer with the run once it has ended
        (``on_done`` stores how); a retry of the same request waits for the first call's run
        instead. ``sizes`` (listings=..., households=...) go to the run-started log line."""
        run_id = new.run_id
        scope = "" if new.scope is None else new.scope
        marks = () if new.scope is None else (StringValue(value=new.scope),)
        run, created = self.source.create_run(
            run_id=run_id,
            kind=new.kind,
            parameters=new.request.parameters.SerializeToString(deterministic=True),
            owner=self.owner,
            request_id=new.request_id,
            fingerprint=fingerprint(new.request, *marks),
            scope=scope,
        )
        if not created:  # a retry: wait for the first call's run instead of solving again
            return convert.run_proto(self.await_run(run.id, context))
        self.live.start(run_id, new.label, time_limit_s=params.time_limit_s, **sizes)
        handle = self.executor.submit(
            run_id,
            solve,
            job,
            params,
            on_progress=lambda p: self.live.publish(run_id, p),
            on_start=lambda: self.mark_running(run_id),
            on_done=on_done,
        )
        context.add_callback(lambda: handle.done or self.executor.cancel(run_id))
        handle.wait()
        return convert.run_proto(self.source.get_run(run_id))
