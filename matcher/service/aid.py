"""The aid run kind: budgeted programmes to households (AllocateAid).

The problem is inline (a what-if, never committed) or the households and programmes of a
region in the registry; a proposed registry run stores its grants first, so that once
PROPOSED the run is complete, and a commit writes them to the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import convert_aid
from matcher.service.kinds import (
    Ended,
    Limit,
    Prepared,
    RunKind,
    check_size,
    proposed,
    solved_inline,
)
from matcher.service.source import GrantRecord, RegistrySource, RunRecord, RunState
from matcher.solvers import aid
from registry.access.policy import Principal
from registry.errors import FailedPrecondition, InvalidArgument
from registry.resources.requests import REGION_CODE, RESOURCE_ID
from registry.runs import scopes as run_scopes

LIMITS = {"households": Limit(200_000), "programmes": Limit(200)}
# Left-out pairs listed in a result at most (a big run has millions of eligible pairs); the
# rest are counted in AidResult.left_out_omitted.
MAX_LEFT_OUT = 100_000


def prepare(
    request: mpb.AllocateAidRequest,
    source: RegistrySource,
    caller: Principal,
    limits: Mapping[str, Limit],
) -> Prepared:
    problem, scope = _problem(request, source, caller, limits)
    inline = request.WhichOneof("source") == "inline"
    sizes = {"households": len(problem.households), "programmes": len(problem.programmes)}
    return Prepared(problem, sizes, lambda result: _ended(result, inline), scope)


def _problem(
    request: mpb.AllocateAidRequest,
    source: RegistrySource,
    caller: Principal,
    limits: Mapping[str, Limit],
) -> tuple[aid.AidProblem, str]:
    """The problem, and the scope of its run (registry/runs/scopes.py)."""
    which = request.WhichOneof("source")
    if which == "inline":
        inline = request.inline
        check_size(limits, households=len(inline.households), programmes=len(inline.programmes))
        scope = run_scopes.region_of_new_run(caller, None, "inline")
        return convert_aid.inline_problem(request), scope
    if which != "selection":
        raise InvalidArgument.one("source", "set either inline or selection")
    sel = request.selection
    if not sel.programme_ids:
        raise InvalidArgument.one("selection.programme_ids", "at least one is required")
    check_size(limits, programmes=len(sel.programme_ids))
    for i, ident in enumerate(sel.programme_ids):
        if not RESOURCE_ID.fullmatch(ident):
            raise InvalidArgument.one(f"selection.programme_ids[{i}]", "is not a valid id")
    if not REGION_CODE.fullmatch(sel.region_code):
        raise InvalidArgument.one("selection.region_code", "must be up to 12 digits")
    region = run_scopes.region_of_new_run(caller, sel.region_code, "selection.region_code")
    inputs = source.aid_inputs(
        region_code=region,
        programme_ids=list(sel.programme_ids),
        field="selection.programme_ids",
        reader=caller,
    )
    check_size(limits, households=len(inputs.households), programmes=len(inputs.programmes))
    return convert_aid.registry_problem(inputs, request.rules), region


def _ended(result: aid.AidResult, inline: bool) -> Ended:
    message = convert_aid.aid_result(result, inline=inline, max_left_out=MAX_LEFT_OUT)
    grants = (
        []
        if inline
        else [GrantRecord(g.household_id, g.programme_id, g.amount_fen) for g in result.grants]
    )
    return Ended(proposed(result, result.bound, message), grants)


def save(
    source: RegistrySource, run_id: str, fields: dict[str, Any], rows: Sequence[Any]
) -> RunRecord:
    """The grants of a registry run first, so that once PROPOSED the run is complete."""
    if fields["state"] == RunState.PROPOSED and rows:
        source.store_grants(run_id, rows)
    return source.update_run(run_id, **fields)


def commit(
    source: RegistrySource, run: RunRecord, request_id: str, etag: str, caller: Principal
) -> RunRecord:
    if solved_inline(run, mpb.AidResult):
        raise FailedPrecondition(
            f"run {run.id} solved an inline problem (a what-if): nothing to commit"
        )
    return source.commit_aid(run.id, request_id=request_id, etag=etag)


KIND = RunKind(mpb.AID, prepare, aid.solve, save, commit, LIMITS)
