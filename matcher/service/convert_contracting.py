"""Translation between the contracting messages of fupin.matcher.v1 (ContractHouseholds) and
the contracting model's objects.

Requests are checked field by field (every violation named, as `inline.households[3].causes`)
before a model object is built, so a bad request is INVALID_ARGUMENT, never a failed run.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.registry.v1 import resources_pb2 as rpb
from matcher.service.convert import INLINE_ID, bounded, location, rank_load_proto, unique_ids
from matcher.service.source import CadreItem, ContractingData
from matcher.solvers import contracting
from registry.errors import InvalidArgument
from registry.resources.checks import Checker
from registry.runs.data import INLINE

INT32_MAX = 2**31 - 1  # quotas and efforts: the range of the proto's int32
MAX_COST = 10**12
_NAMED = 20  # bad pairs named per check; a request with more names these and counts the rest
HOUSEHOLD_STATUS: Mapping[int, contracting.HouseholdStatus] = MappingProxyType(
    {
        rpb.IMPOVERISHED: contracting.HouseholdStatus.IMPOVERISHED,
        rpb.AT_RISK: contracting.HouseholdStatus.AT_RISK,
        rpb.LIFTED_OUT: contracting.HouseholdStatus.LIFTED_OUT,
        rpb.RETURNED_TO_POVERTY: contracting.HouseholdStatus.RETURNED_TO_POVERTY,
    }
)


def contracting_rules(r: cpb.ContractingRules, c: Checker) -> dict[str, Any]:
    quotas = dict(contracting.DEFAULT_QUOTA_BY_RANK)
    if r.quotas:
        quotas = {}
        for i, q in enumerate(r.quotas):
            rank = bounded(c, f"rules.quotas[{i}].rank", q.rank, 1, 5)
            if rank in quotas:
                c.fail(f"rules.quotas[{i}].rank", "repeats a rank")
            quotas[rank] = bounded(c, f"rules.quotas[{i}].quota", q.quota, 0, INT32_MAX)
    statuses = c.enums("rules.statuses", r.statuses, rpb.HouseholdStatus)
    balance = contracting.DEFAULT_RANK_BALANCE_M
    if r.HasField("rank_balance_m"):
        balance = r.rank_balance_m
    return {
        "quota_by_rank": quotas,
        "k_nearest": bounded(c, "rules.k_nearest", r.k_nearest or 20, 1, 1000),
        "rank_balance_m": bounded(
            c, "rules.rank_balance_m", balance, 0, contracting.MAX_RANK_BALANCE_M
        ),
        "statuses": frozenset(HOUSEHOLD_STATUS[s] for s in statuses if s in HOUSEHOLD_STATUS)
        or contracting.POOR,
    }


def _contracting(c: Checker, cadres: list[Any], households: list[Any], **kw: Any) -> Any:
    for x in cadres:
        if x.quota is None and x.rank not in kw["quota_by_rank"]:
            c.fail("rules.quotas", f"no quota for rank {x.rank} (cadre {x.id})")
            break
    c.raise_if_any()
    try:
        return contracting.ContractingProblem(tuple(cadres), tuple(households), **kw)
    except ValueError as exc:
        raise InvalidArgument.one("inline", str(exc)) from None


def inline_contracting(p: cpb.ContractingProblem, r: cpb.ContractingRules) -> Any:
    c = Checker()
    rules = contracting_rules(r, c)
    cadres = []
    for i, x in enumerate(p.cadres):
        path = f"inline.cadres[{i}]."
        c.matches(path + "id", x.id, INLINE_ID, "1-40 letters, digits or _ . : -")
        where = location(c, path, x)
        quota = bounded(c, path + "quota", x.quota, 0, INT32_MAX) if x.HasField("quota") else None
        cadres.append(
            contracting.ContractCadre(
                x.id, bounded(c, path + "rank", x.rank, 1, 5), x.village_id or None, *where, quota
            )
        )
    households = []
    for i, h in enumerate(p.households):
        path = f"inline.households[{i}]."
        c.matches(path + "id", h.id, INLINE_ID, "1-40 letters, digits or _ . : -")
        c.text(path + "village_id", h.village_id, 40)
        status = c.enum(path + "status", h.status, rpb.HouseholdStatus)
        households.append(
            contracting.ContractHousehold(
                h.id,
                h.village_id,
                *location(c, path, h),
                HOUSEHOLD_STATUS.get(status, contracting.HouseholdStatus.IMPOVERISHED),
                bounded(c, path + "causes", h.causes, 0, 11),
            )
        )
    unique_ids(c, "inline.cadres", [x.id for x in p.cadres])
    unique_ids(c, "inline.households", [h.id for h in p.households])
    if p.pairs:
        rules["scores"] = _scores(c, p)
    return _contracting(c, cadres, households, **rules)


def _scores(c: Checker, p: cpb.ContractingProblem) -> contracting.PairScores | None:
    """The listed pairs as columns, checked a column at a time (the first bad pairs named);
    no households × cadres matrix, so the size limit counts the pairs sent (contracting.py)."""
    n = len(p.pairs)
    households = {h.id: i for i, h in enumerate(p.households)}
    cadres = {x.id: j for j, x in enumerate(p.cadres)}
    pairs = p.pairs
    h = np.fromiter((households.get(x.household_id, -1) for x in pairs), np.int64, n)
    j = np.fromiter((cadres.get(x.cadre_id, -1) for x in pairs), np.int64, n)
    cost = np.fromiter((x.cost for x in pairs), np.int64, n)
    effort = np.fromiter((x.effort for x in pairs), np.int64, n)
    _name(c, p, h < 0, "household_id", lambda x: f"names no household: {x.household_id!r}")
    _name(c, p, j < 0, "cadre_id", lambda x: f"names no cadre: {x.cadre_id!r}")
    _name(c, p, (cost < 0) | (cost > MAX_COST), "cost", lambda x: _range(x.cost, MAX_COST))
    _name(c, p, (effort < 0) | (effort > INT32_MAX), "effort", lambda x: _range(x.effort))
    key = np.where((h >= 0) & (j >= 0), h * max(len(p.cadres), 1) + j, -1 - np.arange(n))
    order = np.argsort(key, kind="stable")
    repeat = np.zeros(n, dtype=bool)
    repeat[order[1:]] = key[order[1:]] == key[order[:-1]]
    _name(c, p, repeat, "cadre_id", lambda x: f"repeats the pair ({x.household_id}, {x.cadre_id})")
    if c.violations:
        return None
    return contracting.PairScores(h, j, cost, effort)


def _range(value: int, hi: int = INT32_MAX) -> str:
    return f"must be between 0 and {hi}, got {value}"


def _name(c: Checker, p: cpb.ContractingProblem, bad: Any, field: str, why: Any) -> None:
    """A violation for each of the first ``_NAMED`` pairs flagged ``bad``, and one counting
    the rest."""
    where = np.flatnonzero(bad)
    for k in where[:_NAMED].tolist():
        c.fail(f"inline.pairs[{k}].{field}", why(p.pairs[k]))
    if len(where) > _NAMED:
        c.fail(f"inline.pairs.{field}", f"{len(where) - _NAMED:,} more pairs like these")


def registry_contracting(
    data: ContractingData, r: cpb.ContractingRules
) -> tuple[Any, dict[str, int]]:
    c = Checker()
    rules = contracting_rules(r, c)
    cadres = [
        contracting.ContractCadre(
            x.id, x.rank, x.current_village_id, x.latitude, x.longitude, x.contract_quota
        )
        for x in data.cadres
    ]
    households = [
        contracting.ContractHousehold(
            h.id, h.village_id, h.latitude, h.longitude, HOUSEHOLD_STATUS[h.status], h.causes
        )
        for h in data.households
    ]
    return _contracting(c, cadres, households, **rules), {x.id: x.version for x in data.cadres}


def contracting_proto(result: contracting.ContractingResult, problem: Any) -> cpb.ContractingResult:
    rank = {x.id: x.rank for x in problem.cadres}
    out = cpb.ContractingResult(
        cadres=len(problem.cadres),
        households=len(problem.households),
        coverage=result.coverage,
        rank_cost=result.rank_cost,
        rank_balance_m=0 if problem.scores is not None else problem.rank_balance_m,
    )
    out.rank_loads.extend(rank_load_proto(x) for x in result.rank_loads)
    out.contracts.extend(
        cpb.HouseholdContract(
            household_id=k.household_id,
            cadre_id=k.cadre_id,
            cost=k.cost,
            effort=k.effort,
            same_village=k.same_village,
            distance_km=k.distance_km,
        )
        for k in result.contracts
    )
    out.uncovered.extend(
        cpb.UncoveredHousehold(
            household_id=u.household_id,
            reason=cpb.UncoveredHouseholdReason.Value(f"HOUSEHOLD_{u.reason.value}"),
        )
        for u in result.uncovered
    )
    out.loads.extend(
        cpb.CadreLoad(
            cadre_id=load.cadre_id,
            rank=rank[load.cadre_id],
            quota=load.quota,
            effort=load.effort,
            households=load.households,
        )
        for load in result.loads
    )
    return out


def contracting_items(
    result: contracting.ContractingResult, versions: Mapping[str, int] | None
) -> list[CadreItem]:
    if versions is None:
        return [CadreItem("", INLINE)]
    return [
        CadreItem(k.cadre_id, versions[k.cadre_id], household_id=k.household_id)
        for k in result.contracts
    ]
