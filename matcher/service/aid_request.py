"""An AllocateAid request from the aid model's objects: for callers that hold an
``AidProblem`` (benchmarks, tests, what-if tools). The inverse of
``matcher.service.convert_aid``."""

from __future__ import annotations

from typing import Any

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import resources_pb2 as pb
from matcher.solvers.aid import AidProblem


def inline_request(problem: AidProblem, **kw: Any) -> mpb.AllocateAidRequest:
    """The AllocateAid request of a model problem (an independent translation of its fields)."""
    households = [
        mpb.AidHousehold(
            id=h.id,
            village_code=h.village_code,
            status=pb.HouseholdStatus.Value(h.status.value),
            score=h.score,
            causes=[pb.PovertyCause.Value(c.upper()) for c in sorted(h.causes)],
        )
        for h in problem.households
    ]
    programmes = []
    for p in problem.programmes:
        amounts: dict[str, int] = {"amount_fen": p.max_fen}
        if p.amount_fen is None:
            amounts.update(min_amount_fen=p.min_fen, step_fen=p.step)
        programmes.append(
            mpb.AidProgramme(
                id=p.id,
                budget_fen=p.budget_fen,
                causes=[pb.PovertyCause.Value(c.upper()) for c in sorted(p.causes)],
                eligible_statuses=sorted(pb.HouseholdStatus.Value(s.value) for s in p.statuses),
                region_code=p.region_prefix,
                **amounts,
            )
        )
    rules = mpb.AidRules(
        exclusive_groups=[
            mpb.ExclusiveGroup(programme_ids=sorted(g)) for g in problem.exclusive_groups
        ],
        household_cap_fen=problem.household_cap_fen or 0,
        need=mpb.NeedWeights(
            base_weight=problem.need.base_weight, per_cause_weight=problem.need.per_cause_weight
        ),
        objective=mpb.AidObjective.Value("AID_" + problem.objective.value),
        quotas=[
            mpb.AidQuota(
                programme_id=q.programme_id,
                region_code=q.region_prefix,
                min_share_permille=q.min_share_permille,
            )
            for q in problem.quotas
        ],
    )
    return mpb.AllocateAidRequest(
        inline=mpb.AidInlineProblem(households=households, programmes=programmes),
        rules=rules,
        **kw,
    )
