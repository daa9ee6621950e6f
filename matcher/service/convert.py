"""What every run kind's conversion shares: solve parameters, solver status, dates, and a
stored run as a MatchRun message."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Sequence
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service.source import RunRecord
from matcher.solvers.common.fairness import RankLoad
from matcher.solvers.common.solving import SolveParams, SolveStatus
from registry.access import policy as access
from registry.errors import FieldViolation, InvalidArgument
from registry.resources.checks import Checker, iso_date

OWNER_READERS = (access.Role.ADMIN, access.Role.AUDITOR)  # see MatchRun.owner_key_id
MAX_TIME_LIMIT_S = 600.0
DEFAULT_TIME_LIMIT_S = 30.0
DEADLINE_MARGIN_S = 0.3  # at least this much of the caller's deadline is kept to answer
STATUS = {
    SolveStatus.OPTIMAL: mpb.OPTIMAL,
    SolveStatus.FEASIBLE: mpb.FEASIBLE,
    SolveStatus.INFEASIBLE: mpb.INFEASIBLE,
}


def solve_params(p: mpb.SolveParameters, time_remaining_s: float | None) -> SolveParams:
    """Request parameters, with the time limit capped by the call's deadline."""
    violations = []
    if p.time_limit_s < 0 or p.time_limit_s > MAX_TIME_LIMIT_S or math.isnan(p.time_limit_s):
        violations.append(
            FieldViolation("parameters.time_limit_s", f"must be between 0 and {MAX_TIME_LIMIT_S}")
        )
    if not 0 <= p.relative_gap <= 1:
        violations.append(FieldViolation("parameters.relative_gap", "must be between 0 and 1"))
    if p.objective not in mpb.Objective.values():
        violations.append(FieldViolation("parameters.objective", "unknown objective"))
    if not 0 <= p.max_orders_per_listing <= 10_000:
        violations.append(
            FieldViolation("parameters.max_orders_per_listing", "must be between 0 and 10000")
        )
    if violations:
        raise InvalidArgument(violations)
    limit = p.time_limit_s or DEFAULT_TIME_LIMIT_S
    deadline = None
    if time_remaining_s is not None:
        # Keep back time to send the answer: storing the result and the reply itself.
        margin = max(DEADLINE_MARGIN_S, 0.1 * time_remaining_s)
        deadline = time.time() + time_remaining_s - margin
        if not p.reproducible:  # reproducible solves spend their limit as deterministic time
            limit = min(limit, max(0.05, time_remaining_s - margin))
    return SolveParams(
        time_limit_s=limit,
        seed=p.seed,
        reproducible=p.reproducible,
        relative_gap=p.relative_gap,
        deadline_unix=deadline,
    )


def date(field: str, value: str) -> dt.date:
    try:
        return iso_date(value)
    except ValueError:
        raise InvalidArgument.one(field, f"must be a date YYYY-MM-DD, got {value[:40]!r}") from None


def run_proto(run: RunRecord, *, with_result: bool = True) -> mpb.MatchRun:
    out = mpb.MatchRun(
        id=run.id,
        kind=run.kind,  # type: ignore[arg-type]
        state=run.state,  # type: ignore[arg-type]
        status=run.status,  # type: ignore[arg-type]
        objective=run.objective,
        best_bound=run.best_bound,
        gap=run.gap,
        timings=mpb.Timings(
            load_s=run.load_s, build_s=run.build_s, solve_s=run.solve_s, total_s=run.total_s
        ),
        error=run.error,
        owner_key_id=run.owner_key_id if access.current().role in OWNER_READERS else "",
        create_time=_timestamp(run.create_time),
        update_time=_timestamp(run.update_time),
        etag=f'"{run.version}"',
    )
    out.parameters.ParseFromString(run.parameters)
    if with_result and run.result and run.kind == mpb.PRODUCE:
        out.produce.ParseFromString(run.result)
    elif with_result and run.result and run.kind == mpb.AID:
        out.aid.ParseFromString(run.result)
    elif with_result and run.result and run.kind == mpb.CADRE_STATIONING:
        out.stationing.ParseFromString(run.result)
    elif with_result and run.result and run.kind == mpb.CADRE_CONTRACTING:
        out.contracting.ParseFromString(run.result)
    return out


def _timestamp(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    return ts


# --- field checks shared by the cadre kinds' conversions -------------------------------------

INLINE_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,40}")  # ids of an inline problem's items


def bounded(c: Checker, field: str, value: int, lo: int, hi: int) -> int:
    """The value checked, then clamped into range: the checker keeps the violation, and the
    model objects built before it is raised never see an impossible value."""
    return min(max(c.integer(field, value, lo, hi), lo), hi)


def unique_ids(c: Checker, field: str, ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if value in seen:
            c.fail(f"{field}[{i}].id", f"repeats id {value!r}")
        seen.add(value)


def location(c: Checker, path: str, message: Any) -> tuple[float, float]:
    """The message's location (latitude, longitude), checked; (0, 0) where it is wrong."""
    if not message.HasField("location"):
        c.fail(path + "location", "is required")
        return 0.0, 0.0
    lat = c.number(path + "location.latitude", message.location.latitude, -90, 90)
    lng = c.number(path + "location.longitude", message.location.longitude, -180, 180)
    return (lat if -90 <= lat <= 90 else 0.0), (lng if -180 <= lng <= 180 else 0.0)


def rank_load_proto(x: RankLoad) -> cpb.RankLoad:
    """A rank's load (stationing and contracting results' fairness figures)."""
    return cpb.RankLoad(
        rank=x.rank,
        cadres=x.cadres,
        loaded=x.loaded,
        load=x.load,
        capacity=x.capacity,
        load_share=x.load_share,
        capacity_share=x.capacity_share,
    )
