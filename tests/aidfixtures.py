"""Aid test helpers: model problems as AllocateAid requests, and a registry with households and
programmes to allocate."""

from __future__ import annotations

from typing import Any

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from matcher.aid import AidProblem
from tests import factories


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


def poor_households(registry: Any, count: int) -> list[pb.Household]:
    """`count` impoverished households of one Zhao'an village, ill, poorer as i grows."""
    village = factories.create_village(registry)
    return [
        factories.create_household(
            registry,
            village.id,
            indicators=factories.indicators(health=max(0, 50 - 5 * i)),
            causes=[pb.ILLNESS],
        )
        for i in range(count)
    ]


def programme(registry: Any, **kw: Any) -> pb.AidProgram:
    return registry.CreateAidProgram(
        api.CreateAidProgramRequest(aid_program=factories.aid_program(**kw))
    )


def selection_request(programme_ids: list[str], **kw: Any) -> mpb.AllocateAidRequest:
    return mpb.AllocateAidRequest(
        selection=mpb.AidSelection(region_code=factories.ZHAOAN, programme_ids=programme_ids),
        parameters=mpb.SolveParameters(time_limit_s=10, reproducible=True),
        **kw,
    )
