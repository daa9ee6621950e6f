"""Aid runs of the matcher service: AllocateAid and the commit of a proposed aid run.

The servicer (matcher/service/servicer.py) delegates here; runs share its executor, live progress
and
run records, so Get/List/Watch/Cancel/Discard work on aid runs unchanged.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import convert_aid as aid_convert
from matcher.service import convert_produce as convert
from matcher.service.launch import Launcher, NewRun
from matcher.service.live import LiveRuns
from matcher.service.runner import Outcome
from matcher.service.source import GrantRecord, RegistrySource, RunRecord, RunState
from matcher.solvers import aid
from registry.access import policy as access
from registry.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from registry.resources.convert import REGION_CODE
from registry.resources.servicer import RESOURCE_ID, checked_request_id
from registry.runs import scopes as run_scopes

log = structlog.get_logger(__name__)
MAX_HOUSEHOLDS = 200_000
MAX_PROGRAMMES = 200
# Left-out pairs listed in a result at most (a big run has millions of eligible pairs); the
# rest are counted in AidResult.left_out_omitted.
MAX_LEFT_OUT = 100_000


class AidRuns:
    """What the matcher servicer does for aid runs."""

    def __init__(self, source: RegistrySource, live: LiveRuns, launcher: Launcher) -> None:
        self.source = source
        self.live = live
        self.launcher = launcher

    def allocate(self, request: mpb.AllocateAidRequest, context: Any, run_id: str) -> mpb.MatchRun:
        params = convert.solve_params(request.parameters, context.time_remaining())
        request_id = checked_request_id(request.request_id)
        started = time.perf_counter()
        problem, scope = self._problem(request)
        load_s = time.perf_counter() - started
        inline = request.WhichOneof("source") == "inline"
        return self.launcher.launch(
            NewRun(run_id, mpb.AID, request, request_id, scope),
            context,
            aid.solve,
            problem,
            params,
            lambda outcome: self._finish(run_id, outcome, load_s, inline),
            households=len(problem.households),
            programmes=len(problem.programmes),
        )

    def _problem(self, request: mpb.AllocateAidRequest) -> tuple[aid.AidProblem, str]:
        """The problem, and the scope of its run (registry/runs/scopes.py)."""
        caller = access.current()
        which = request.WhichOneof("source")
        if which == "inline":
            _check_size(len(request.inline.households), len(request.inline.programmes))
            scope = run_scopes.region_of_new_run(caller, None, "inline")
            return aid_convert.inline_problem(request), scope
        if which != "selection":
            raise InvalidArgument.one("source", "set either inline or selection")
        sel = request.selection
        if not sel.programme_ids:
            raise InvalidArgument.one("selection.programme_ids", "at least one is required")
        _check_size(0, len(sel.programme_ids))
        for i, ident in enumerate(sel.programme_ids):
            if not RESOURCE_ID.fullmatch(ident):
                raise InvalidArgument.one(f"selection.programme_ids[{i}]", "is not a valid id")
        if not REGION_CODE.fullmatch(sel.region_code):
            raise InvalidArgument.one("selection.region_code", "must be up to 12 digits")
        region = run_scopes.region_of_new_run(caller, sel.region_code, "selection.region_code")
        inputs = self.source.aid_inputs(
            region_code=region,
            programme_ids=list(sel.programme_ids),
            field="selection.programme_ids",
            reader=caller,
        )
        _check_size(len(inputs.households), len(inputs.programmes))
        return aid_convert.registry_problem(inputs, request.rules), region

    def _finish(self, run_id: str, outcome: Outcome, load_s: float, inline: bool) -> None:
        """Store how the run ended (on the executor's supervisor thread): the grants of a
        registry run first, so that once PROPOSED the run is complete."""
        fields: dict[str, Any] = {"total_s": outcome.wall_s + load_s, "load_s": load_s}
        if outcome.cancelled:
            fields["state"] = RunState.CANCELLED
        elif outcome.error:
            fields.update(state=RunState.FAILED, error=outcome.error)
        else:
            result: aid.AidResult = outcome.result
            fields.update(_result_fields(result, inline))
        with self.live.ending(run_id, "aid", fields):
            if fields["state"] == RunState.PROPOSED and not inline:
                grants = [
                    GrantRecord(g.household_id, g.programme_id, g.amount_fen)
                    for g in outcome.result.grants
                ]
                self.source.store_grants(run_id, grants)
            self.source.update_run(run_id, **fields)

    def commit(self, run: RunRecord, request_id: str, etag: str) -> mpb.MatchRun:
        if run.result and run.state == RunState.PROPOSED:
            result = mpb.AidResult.FromString(run.result)
            if result.inline:
                raise FailedPrecondition(
                    f"run {run.id} solved an inline problem (a what-if): nothing to commit"
                )
        committed = self.source.commit_aid(run.id, request_id=request_id, etag=etag)
        log.info("run_committed", run_id=run.id, kind="aid")
        return convert.run_proto(committed)


def _result_fields(result: aid.AidResult, inline: bool) -> dict[str, Any]:
    proto = aid_convert.aid_result(result, inline=inline, max_left_out=MAX_LEFT_OUT)
    return {
        "state": RunState.PROPOSED,
        "status": convert.STATUS.get(result.status, mpb.NO_SOLUTION),
        "objective": int(result.objective),
        "best_bound": float(result.bound),
        "gap": float(result.gap),
        "build_s": result.timings.build_s,
        "solve_s": result.timings.solve_s,
        "result": proto.SerializeToString(),
    }


def _check_size(households: int, programmes: int) -> None:
    if households > MAX_HOUSEHOLDS:
        raise ResourceExhausted(f"at most {MAX_HOUSEHOLDS} households per run, got {households}")
    if programmes > MAX_PROGRAMMES:
        raise ResourceExhausted(f"at most {MAX_PROGRAMMES} programmes per run, got {programmes}")
