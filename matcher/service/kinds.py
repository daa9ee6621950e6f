"""The kinds of run the matcher solves, each declared once (STYLE.md 11).

A `RunKind` says how a request becomes a problem (within its size limits), which function
solves it in a solver process, how its result is stored, and how a proposed run is committed.
The servicer (servicer.py) holds the table of kinds; the launcher (launch.py) starts and ends
every kind the same way. One module per kind declares it: produce.py, aid.py, stationing.py,
contracting.py.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service.convert import STATUS
from matcher.service.source import RegistrySource, RunRecord, RunState
from matcher.solvers.common.solving import SolveParams
from registry.access import policy as access
from registry.access.policy import Principal
from registry.errors import InvalidArgument, ResourceExhausted

RUN_ID = re.compile(r"[A-Za-z0-9_\-]{4,40}")
STORED_RUN_ID = re.compile(r"run-[0-9a-f]{28}|run-[0-9a-f]{36}")  # new_run_id's two forms


@dataclass(frozen=True)
class Limit:
    """The most items of one sort (listings, households, ...) in one run's problem."""

    most: int
    setting: str = ""  # the server setting that changes it, named in the refusal


@dataclass(frozen=True)
class Ended:
    """What a run stores once its solve has ended well: its fields (state, status, objective,
    bound, gap, timings, the result message) and its rows (allocations, grants or the items a
    commit would change)."""

    fields: dict[str, Any]
    rows: Sequence[Any] = ()


@dataclass(frozen=True)
class Prepared:
    """A request made ready to solve."""

    job: Any  # what the solver process gets
    sizes: Mapping[str, int]  # for the run-started log line and metrics
    ended: Callable[[Any], Ended]  # the solver's result -> what the run stores
    scope: str | None = None  # the region of an aid or cadre run (registry/runs/scopes.py)


# (request, source, caller, limits) -> the request made ready to solve
Prepare = Callable[[Any, RegistrySource, Principal, Mapping[str, Limit]], Prepared]
# (source, run id, run fields, rows) -> the run: store how it ended, whatever way it ended
Save = Callable[[RegistrySource, str, dict[str, Any], Sequence[Any]], RunRecord]
# (source, proposed run, request id, etag, caller) -> the committed run
Commit = Callable[[RegistrySource, RunRecord, str, str, Principal], RunRecord]


@dataclass(frozen=True)
class RunKind:
    kind: int  # mpb.RunKind
    prepare: Prepare
    solve: Callable[[Any, SolveParams], Any]  # module-level, so it pickles by reference
    save: Save
    commit: Commit
    limits: Mapping[str, Limit] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The kind in log lines and metrics: produce, aid, cadre_stationing, ..."""
        return mpb.RunKind.Name(self.kind).lower()  # type: ignore[arg-type]


def check_size(limits: Mapping[str, Limit], **sizes: int) -> None:
    """RESOURCE_EXHAUSTED naming the first sort of item over its limit."""
    for what, n in sizes.items():
        limit = limits[what]
        if n > limit.most:
            setting = f" ({limit.setting})" if limit.setting else ""
            raise ResourceExhausted(f"at most {limit.most} {what} per run{setting}, got {n}")


def solved_inline(run: RunRecord, result: type[Any]) -> bool:
    """Whether a proposed run's stored result (a message of type ``result`` with an ``inline``
    field) says it solved an inline problem: a what-if, nothing to commit."""
    is_proposed = bool(run.result) and run.state == RunState.PROPOSED
    return is_proposed and bool(result.FromString(run.result).inline)


def proposed(result: Any, bound: float, message: Any) -> dict[str, Any]:
    """The fields of a run whose solve ended with ``result`` (any model's result: status,
    objective, gap, timings), its ``bound`` and its result ``message``."""
    return {
        "state": RunState.PROPOSED,
        "status": STATUS.get(result.status, mpb.NO_SOLUTION),
        "objective": int(result.objective),
        "best_bound": float(bound),
        "gap": float(result.gap or 0.0),
        "build_s": result.timings.build_s,
        "solve_s": result.timings.solve_s,
        "result": message.SerializeToString(),
    }


def new_run_id(value: str) -> str:
    """The id a new run is stored under: a new one, or the caller's run_id scoped to its key
    (`scoped_run_id`)."""
    if not value:
        return f"run-{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"
    if not RUN_ID.fullmatch(value):
        raise InvalidArgument.one("run_id", "must be 4-40 letters, digits, '-' or '_'")
    if STORED_RUN_ID.fullmatch(value):
        raise InvalidArgument.one("run_id", "must not have the form of the server's ids (run-HEX)")
    return scoped_run_id(value)


def scoped_run_id(value: str, key_id: str | None = None) -> str:
    """A caller's run_id as stored: a hash of its key id (the current caller's by default)
    and the id, as request ids are (registry/resources/requests.py). The same run_id from two
    keys is two runs, and another caller's run_id names nothing of theirs: no ALREADY_EXISTS,
    no run, for anyone else."""
    key = access.current().key_id if key_id is None else key_id
    return "run-" + hashlib.sha256(f"run_id\n{key}\n{value}".encode()).hexdigest()[:36]


def stored_run_ids(value: str) -> tuple[str, ...]:
    """The stored ids a run id in a request may mean, most likely first: a server's id as
    it is; any other, the caller's own run_id (scoped), then as it is (runs made before
    run ids were scoped, whose ids were stored as sent)."""
    if STORED_RUN_ID.fullmatch(value):
        return (value,)
    return (scoped_run_id(value), value)


def run_id_of(run_id: str) -> str:
    """The id of a run a request names (Get, Watch, Cancel, Commit, Discard)."""
    if not run_id:
        raise InvalidArgument.one("id", "is required")
    if not RUN_ID.fullmatch(run_id):
        raise InvalidArgument.one("id", "is not a valid run id (4-40 letters, digits, - or _)")
    return run_id
