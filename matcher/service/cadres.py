"""AssignCadres and ContractHouseholds: cadre runs over the same executor and run records as
produce runs (a mixin of ``matcher.service.servicer.MatcherServicer``).

Each call checks its request, builds the model's problem (inline, or from the registry through
``RegistrySource``), creates the run, solves it in a worker process and stores the result
with what a commit would change (each cadre's version as read); Get/List/Watch/Cancel/Commit/
Discard are the produce runs' RPCs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import convert_cadres as cadre_convert
from matcher.service import convert_produce as convert
from matcher.service.jobs_cadres import StationingOutcome, solve_contracting, solve_stationing
from matcher.service.launch import Launcher, NewRun
from matcher.service.live import LiveRuns
from matcher.service.runner import Outcome
from matcher.service.source import CadreItem, RegistrySource, RunState
from registry.access import policy as access
from registry.errors import InvalidArgument, ResourceExhausted
from registry.resources.servicer import checked_request_id
from registry.runs import scopes as run_scopes

log = structlog.get_logger(__name__)
MAX_CADRES = 300_000
MAX_VILLAGES = 20_000
MAX_HOUSEHOLDS = 200_000

# (proto result bytes, commit items, result fields) from a solver's result
Finish = Callable[[Any], tuple[bytes, list[CadreItem], dict[str, Any]]]


class CadreRuns:
    """The cadre RPCs of MatcherServicer (which provides the attributes and helpers below)."""

    source: RegistrySource
    live: LiveRuns
    launcher: Launcher

    def AssignCadres(self, request: mpb.AssignCadresRequest, context: Any) -> mpb.MatchRun:
        params = convert.solve_params(request.parameters, context.time_remaining())
        started = time.perf_counter()
        which = request.WhichOneof("source")
        versions: dict[str, int] | None = None
        scope = _scope(request)
        if which == "inline":
            _check_size(cadres=len(request.inline.cadres), villages=len(request.inline.villages))
            problem = cadre_convert.inline_stationing(request.inline, request.rules)
        elif which == "selection":
            data = self.source.stationing_data(region_code=scope, reader=access.current())
            _check_size(cadres=len(data.cadres), villages=len(data.villages))
            problem, versions = cadre_convert.registry_stationing(data, request.rules)
        else:
            raise InvalidArgument.one("source", "set either inline or selection")
        job = cadre_convert.stationing_job(request, problem)

        def finish(outcome: StationingOutcome) -> tuple[bytes, list[CadreItem], dict[str, Any]]:
            proto = cadre_convert.stationing_proto(outcome, problem)
            items = cadre_convert.stationing_items(outcome, versions)
            return proto.SerializeToString(), items, _fields(outcome.result)

        sizes = {"cadres": len(problem.cadres), "villages": len(problem.villages)}
        return self._run_cadres(
            request, context, mpb.CADRE_STATIONING, solve_stationing, job, params, finish,
            load_s=time.perf_counter() - started, sizes=sizes, scope=scope,
        )  # fmt: skip

    def ContractHouseholds(
        self, request: mpb.ContractHouseholdsRequest, context: Any
    ) -> mpb.MatchRun:
        params = convert.solve_params(request.parameters, context.time_remaining())
        started = time.perf_counter()
        which = request.WhichOneof("source")
        versions: dict[str, int] | None = None
        scope = _scope(request)
        if which == "inline":
            inline = request.inline
            _check_size(cadres=len(inline.cadres), households=len(inline.households))
            problem = cadre_convert.inline_contracting(inline, request.rules)
        elif which == "selection":
            data = self.source.contracting_data(region_code=scope, reader=access.current())
            _check_size(cadres=len(data.cadres), households=len(data.households))
            problem, versions = cadre_convert.registry_contracting(data, request.rules)
        else:
            raise InvalidArgument.one("source", "set either inline or selection")

        def finish(result: Any) -> tuple[bytes, list[CadreItem], dict[str, Any]]:
            proto = cadre_convert.contracting_proto(result, problem)
            items = cadre_convert.contracting_items(result, versions)
            return proto.SerializeToString(), items, _fields(result)

        sizes = {"cadres": len(problem.cadres), "households": len(problem.households)}
        return self._run_cadres(
            request, context, mpb.CADRE_CONTRACTING, solve_contracting, problem, params, finish,
            load_s=time.perf_counter() - started, sizes=sizes, scope=scope,
        )  # fmt: skip

    def _run_cadres(
        self,
        request: Any,
        context: Any,
        kind: int,
        solve: Callable[[Any, Any], Any],
        job: Any,
        params: Any,
        finish: Finish,
        *,
        load_s: float,
        sizes: Mapping[str, int],
        scope: str,
    ) -> mpb.MatchRun:
        """Start the run (matcher/service/launch.py); ``finish`` turns its result into what is
        stored."""
        from matcher.service import servicer as service

        run_id = service._run_id(request.run_id)
        new = NewRun(run_id, kind, request, checked_request_id(request.request_id), scope)
        return self.launcher.launch(
            new,
            context,
            solve,
            job,
            params,
            lambda outcome: self._finish_cadres(run_id, new.label, outcome, load_s, finish),
            **sizes,
        )

    def _finish_cadres(
        self, run_id: str, kind: str, outcome: Outcome, load_s: float, finish: Finish
    ) -> None:
        """Store how the run ended (on the executor's supervisor thread); `kind` labels its
        log line and metrics (cadre_stationing, cadre_contracting)."""
        fields: dict[str, Any] = {"total_s": outcome.wall_s + load_s, "load_s": load_s}
        items: list[CadreItem] = []
        if outcome.cancelled:
            fields["state"] = RunState.CANCELLED
        elif outcome.error:
            fields.update(state=RunState.FAILED, error=outcome.error)
        else:
            try:
                result, items, more = finish(outcome.result)
            except Exception as exc:  # never leave the run RUNNING
                log.exception("run_result_failed", run_id=run_id)
                fields.update(state=RunState.FAILED, error=f"{type(exc).__name__}: {exc}")
            else:
                fields.update(more, result=result)
        with self.live.ending(run_id, kind, fields):
            self.source.finish_cadre_run(run_id, items=items, **fields)


def _fields(result: Any) -> dict[str, Any]:
    """Run fields of a stationing or contracting result (both minimise a cost)."""
    status = convert.STATUS.get(result.status, mpb.NO_SOLUTION)
    return {
        "state": RunState.PROPOSED,
        "status": status,
        "objective": int(result.objective),
        "best_bound": float(result.bound),
        "gap": float(result.gap or 0.0),
        "build_s": result.timings.build_s,
        "solve_s": result.timings.solve_s,
    }


def _scope(request: Any) -> str:
    """The region a selection reads and the run's scope (registry/runs/scopes.py)."""
    if request.WhichOneof("source") != "selection":
        return run_scopes.region_of_new_run(access.current(), None, "inline")
    _check_region("selection.region_code", request.selection.region_code)
    region = request.selection.region_code
    return run_scopes.region_of_new_run(access.current(), region, "selection.region_code")


def _check_region(field: str, code: str) -> None:
    if code and not (code.isdigit() and len(code) <= 12):
        raise InvalidArgument.one(field, "must be up to 12 digits (an administrative code prefix)")


def _check_size(**sizes: int) -> None:
    limits = {"cadres": MAX_CADRES, "villages": MAX_VILLAGES, "households": MAX_HOUSEHOLDS}
    for what, n in sizes.items():
        if n > limits[what]:
            raise ResourceExhausted(f"at most {limits[what]} {what} per run, got {n}")
