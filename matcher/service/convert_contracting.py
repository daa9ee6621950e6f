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
from matcher.service.convert import INLINE_ID, bounded, location, unique_ids
from matcher.service.source import CadreItem, ContractingData
from matcher.solvers import contracting
from registry.errors import InvalidArgument
from registry.resources.checks import Checker
from registry.runs.data import INLINE

MAX_EXPLICIT_CELLS = 5_000_000  # households × cadres of a ContractingProblem with pairs
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
            quotas[rank] = bounded(c, f"rules.quotas[{i}].quota", q.quota, 0, 10**6)
    statuses = c.enums("rules.statuses", r.statuses, rpb.HouseholdStatus)
    return {
        "quota_by_rank": quotas,
        "k_nearest": bounded(c, "rules.k_nearest", r.k_nearest or 20, 1, 1000),
        "statuses": frozenset(HOUSEHOLD_STATUS[s] for s in statuses if s in HOUSEHOLD_STATUS)
        or contracting.POOR,
    }


def _contracting(c: Checker, cadres: list[Any], households: list[Any], **kw: Any) -> Any:
    for x in cadres:
        if x.rank not in kw["quota_by_rank"]:
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
        cadres.append(
            contracting.ContractCadre(
                x.id,
                bounded(c, path + "rank", x.rank, 1, 5),
                x.village_id or None,
                *where,
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
        rules.update(_explicit(c, p, rules["quota_by_rank"]))
    return _contracting(c, cadres, households, **rules)


def _explicit(c: Checker, p: cpb.ContractingProblem, quotas: Mapping[int, int]) -> dict[str, Any]:
    """Cost and effort matrices from the listed pairs; unlisted pairs get an effort no quota
    holds, so they are never candidates."""
    n_h, n_c = len(p.households), len(p.cadres)
    if n_h * n_c > MAX_EXPLICIT_CELLS:
        c.fail("inline.pairs", f"households × cadres must be at most {MAX_EXPLICIT_CELLS:,}")
        return {}
    households = {h.id: i for i, h in enumerate(p.households)}
    cadres = {x.id: j for j, x in enumerate(p.cadres)}
    cost = np.zeros((n_h, n_c), dtype=np.int64)
    effort = np.full((n_h, n_c), max(quotas.values(), default=0) + 1, dtype=np.int64)
    for k, pair in enumerate(p.pairs):
        path = f"inline.pairs[{k}]."
        i, j = households.get(pair.household_id), cadres.get(pair.cadre_id)
        if i is None:
            c.fail(
                path + "household_id", f"names no household of the problem: {pair.household_id!r}"
            )
        if j is None:
            c.fail(path + "cadre_id", f"names no cadre of the problem: {pair.cadre_id!r}")
        c.integer(path + "cost", pair.cost, 0, 10**12)
        c.integer(path + "effort", pair.effort, 0, 10**6)
        if i is not None and j is not None:
            cost[i, j], effort[i, j] = max(pair.cost, 0), max(pair.effort, 0)
    return {"cost": cost, "effort": effort, "k_nearest": max(n_c, 1)}


def registry_contracting(
    data: ContractingData, r: cpb.ContractingRules
) -> tuple[Any, dict[str, int]]:
    c = Checker()
    rules = contracting_rules(r, c)
    cadres = [
        contracting.ContractCadre(x.id, x.rank, x.current_village_id, x.latitude, x.longitude)
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
    out = cpb.ContractingResult(cadres=len(problem.cadres), households=len(problem.households))
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
