"""The cadre stationing run kind: cadres to villages (AssignCadres, 驻村).

The problem is inline or the cadres and villages of a region in the registry; a proposed run
stores, per cadre it would post, the cadre's version as read, so a commit refuses a cadre
changed since.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import convert_stationing as convert
from matcher.service.jobs import StationingOutcome, solve_stationing
from matcher.service.kinds import Ended, Limit, Prepared, RunKind, check_size, proposed
from matcher.service.source import RegistrySource, RunRecord
from registry.access.policy import Principal
from registry.errors import InvalidArgument
from registry.runs import scopes as run_scopes

LIMITS = {"cadres": Limit(300_000), "villages": Limit(20_000)}


def prepare(
    request: mpb.AssignCadresRequest,
    source: RegistrySource,
    caller: Principal,
    limits: Mapping[str, Limit],
) -> Prepared:
    scope = region_of(request, caller)
    which = request.WhichOneof("source")
    versions: dict[str, int] | None = None
    if which == "inline":
        inline = request.inline
        check_size(limits, cadres=len(inline.cadres), villages=len(inline.villages))
        problem = convert.inline_stationing(inline, request.rules)
    elif which == "selection":
        data = source.stationing_data(region_code=scope, reader=caller)
        check_size(limits, cadres=len(data.cadres), villages=len(data.villages))
        problem, versions = convert.registry_stationing(data, request.rules)
    else:
        raise InvalidArgument.one("source", "set either inline or selection")

    def ended(outcome: StationingOutcome) -> Ended:
        message = convert.stationing_proto(outcome, problem)
        items = convert.stationing_items(outcome, versions)
        return Ended(proposed(outcome.result, outcome.result.bound, message), items)

    job = convert.stationing_job(request, problem)
    sizes = {"cadres": len(problem.cadres), "villages": len(problem.villages)}
    return Prepared(job, sizes, ended, scope)


def region_of(request: Any, caller: Principal) -> str:
    """The region a cadre run's selection reads, and the run's scope (registry/runs/scopes.py)."""
    if request.WhichOneof("source") != "selection":
        return run_scopes.region_of_new_run(caller, None, "inline")
    region = request.selection.region_code
    if region and not (region.isdigit() and len(region) <= 12):
        raise InvalidArgument.one(
            "selection.region_code", "must be up to 12 digits (an administrative code prefix)"
        )
    return run_scopes.region_of_new_run(caller, region, "selection.region_code")


def save(
    source: RegistrySource, run_id: str, fields: dict[str, Any], rows: Sequence[Any]
) -> RunRecord:
    return source.finish_cadre_run(run_id, items=rows, **fields)


def commit(
    source: RegistrySource, run: RunRecord, request_id: str, etag: str, caller: Principal
) -> RunRecord:
    """Cadre runs of both kinds commit alike: each cadre checked against what the caller may
    post (PERMISSION_DENIED otherwise) and against its version as the run read it."""
    return source.commit_cadres(run.id, request_id=request_id, etag=etag, reader=caller)


KIND = RunKind(mpb.CADRE_STATIONING, prepare, solve_stationing, save, commit, LIMITS)
