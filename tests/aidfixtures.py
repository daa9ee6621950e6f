"""Aid test helpers: a registry with households and programmes to allocate."""

from __future__ import annotations

from typing import Any

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from tests import factories


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
