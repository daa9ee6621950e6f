"""Model problems → AssignCadres / ContractHouseholds requests, for the service tests."""

from __future__ import annotations

from typing import Any

from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import resources_pb2 as pb
from matcher.solvers import contracting
from matcher.solvers.contracting import ContractingProblem, HouseholdStatus
from matcher.solvers.stationing import Coverage, StationingProblem

COVERAGE = {
    Coverage.OFF: cpb.COVERAGE_OFF,
    Coverage.SOFT: cpb.COVERAGE_SOFT,
    Coverage.HARD: cpb.COVERAGE_HARD,
}
STATUS = {
    HouseholdStatus.IMPOVERISHED: pb.IMPOVERISHED,
    HouseholdStatus.AT_RISK: pb.AT_RISK,
    HouseholdStatus.LIFTED_OUT: pb.LIFTED_OUT,
    HouseholdStatus.RETURNED_TO_POVERTY: pb.RETURNED_TO_POVERTY,
}
PARAMS = mpb.SolveParameters(time_limit_s=20)


def assign_request(problem: StationingProblem, **kw: Any) -> mpb.AssignCadresRequest:
    """Every village states its own team sizes and rank, so no rule default applies."""
    inline = cpb.StationingProblem(
        cadres=[
            cpb.InlineCadre(
                id=c.id,
                rank=c.rank,
                skills=sorted(c.skills),
                home_unit=c.home_unit,
                location=pb.LatLng(latitude=c.lat, longitude=c.lng),
                max_distance_km=c.max_distance_km,
                current_village_id=c.current_village_id or "",
                pinned=c.pinned,
            )
            for c in problem.cadres
        ],
        villages=[
            cpb.InlineVillage(
                id=v.id,
                location=pb.LatLng(latitude=v.lat, longitude=v.lng),
                team_min=v.team_min,
                team_max=v.team_max,
                needs=sorted(v.needs),
                min_secretary_rank=v.min_secretary_rank,
            )
            for v in problem.villages
        ],
    )
    rules = cpb.StationingRules(
        continuity_threshold_m=problem.continuity_threshold,
        max_per_unit=problem.max_per_unit or 0,
        coverage=COVERAGE[problem.coverage],  # type: ignore[arg-type]
        coverage_weight_m=problem.coverage_weight,
        shortage_penalty_m=problem.shortage_penalty,
        secretary_penalty_m=problem.secretary_penalty,
    )
    kw.setdefault("parameters", PARAMS)
    return mpb.AssignCadresRequest(inline=inline, rules=rules, **kw)


def contract_request(problem: ContractingProblem, **kw: Any) -> mpb.ContractHouseholdsRequest:
    inline = cpb.ContractingProblem(
        cadres=[
            cpb.ContractCadre(
                id=c.id,
                rank=c.rank,
                village_id=c.village_id or "",
                location=pb.LatLng(latitude=c.lat, longitude=c.lng),
                quota=c.quota,
            )
            for c in problem.cadres
        ],
        households=[
            cpb.ContractHousehold(
                id=h.id,
                village_id=h.village_id,
                location=pb.LatLng(latitude=h.lat, longitude=h.lng),
                status=STATUS[h.status],  # type: ignore[arg-type]
                causes=h.n_causes,
            )
            for h in problem.households
        ],
    )
    rules = cpb.ContractingRules(
        quotas=[cpb.RankQuota(rank=r, quota=q) for r, q in sorted(problem.quota_by_rank.items())],
        k_nearest=problem.k_nearest,
    )
    if problem.rank_balance_m != contracting.DEFAULT_RANK_BALANCE_M:  # unset: the default
        rules.rank_balance_m = problem.rank_balance_m
    kw.setdefault("parameters", PARAMS)
    return mpb.ContractHouseholdsRequest(inline=inline, rules=rules, **kw)
