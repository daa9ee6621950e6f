"""Bad inline problems that only the solver models catch reach a Chinese caller in Chinese.

The matcher's converters check most fields themselves; these are fields they pass to the
model (matcher/solvers) unchecked, whose ValueError text becomes the violation's description.
Each is sent through a real server with `accept-language: zh-CN` and must come back naming
the field, the English description beside its Chinese (server/solver_texts.py).
"""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import resources_pb2 as pb
from tests.rpcerrors import rpc_fails

ZH = [("accept-language", "zh-CN")]
HERE = pb.LatLng(latitude=26.0, longitude=117.0)


def _household(**fields) -> mpb.AidHousehold:
    given = {"id": "h", "village_code": "350624001001", "status": pb.IMPOVERISHED, "score": 40}
    return mpb.AidHousehold(**{**given, **fields})


def _programme(**fields) -> mpb.AidProgramme:
    return mpb.AidProgramme(**{"id": "p", "budget_fen": 1000, "amount_fen": 100, **fields})


def _aid(households=None, programmes=None) -> mpb.AllocateAidRequest:
    problem = mpb.AidInlineProblem(
        households=households or [_household()], programmes=programmes or [_programme()]
    )
    return mpb.AllocateAidRequest(inline=problem)


def _cadre(**fields) -> cpb.InlineCadre:
    given = {"id": "c1", "rank": 3, "location": HERE, "max_distance_km": 50}
    return cpb.InlineCadre(**{**given, **fields})


def _pinned_twice(**rules) -> mpb.AssignCadresRequest:
    cadres = [
        _cadre(id=c, current_village_id="v1", pinned=True, home_unit="unit") for c in ("c1", "c2")
    ]
    villages = [cpb.InlineVillage(id="v1", location=HERE, team_min=1, team_max=rules.pop("max"))]
    problem = cpb.StationingProblem(cadres=cadres, villages=villages)
    return mpb.AssignCadresRequest(inline=problem, rules=cpb.StationingRules(**rules))


CASES = [
    (
        "AllocateAid",
        _aid([_household(village_code="abc")]),
        "inline.households[0].village_code",
        "must be a string of digits, got 'abc'",
        "必须是一串数字，收到的是 'abc'",
    ),
    (
        "AllocateAid",
        _aid([_household(score=400)]),
        "inline.households[0].score",
        "must be an integer 0..100, got 400",
        "必须是 0 到 100 之间的整数，收到的是 400",
    ),
    (
        "AllocateAid",
        _aid([_household(), _household()]),
        "inline.households[1].id",
        "duplicate id 'h'",
        "编号 'h' 重复",
    ),
    (
        "AllocateAid",
        _aid(programmes=[_programme(min_amount_fen=500, step_fen=7)]),
        "inline.programmes[0].amount_fen",
        "must be an integer >= min_amount_fen, got 100",
        "必须是不小于 min_amount_fen 的整数，收到的是 100",
    ),
    (
        "AllocateAid",
        _aid(programmes=[_programme(budget_fen=-5)]),
        "inline.programmes[0].budget_fen",
        "must be a non-negative integer, got -5",
        "必须是非负整数，收到的是 -5",
    ),
    (
        "AssignCadres",
        _pinned_twice(max=1),
        "inline",
        "village v1: 2 pinned cadres exceed team_max",
        "村 v1：2 名固定留任干部超过 team_max",
    ),
    (
        "AssignCadres",
        _pinned_twice(max=3, max_per_unit=1),
        "inline",
        "village v1: 2 pinned cadres of unit unit > max_per_unit",
        "村 v1：来自单位 unit 的 2 名固定留任干部超过 max_per_unit",
    ),
]


@pytest.mark.parametrize(("method", "request_", "field", "english", "chinese"), CASES)
def test_a_solver_models_text_reaches_a_chinese_caller_in_chinese(
    channel, method, request_, field, english, chinese
):
    """INVALID_ARGUMENT naming the field; the description English, its localized_message
    Chinese."""
    call = getattr(mpb_grpc.MatcherServiceStub(channel), method)
    error = rpc_fails(
        lambda: call(request_, timeout=30, metadata=ZH), grpc.StatusCode.INVALID_ARGUMENT
    )
    status = rpc_status.from_call(error)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad)
    said = {v.field: (v.description, v.localized_message.message) for v in bad.field_violations}
    assert said[field] == (english, chinese)
