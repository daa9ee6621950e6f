"""Every step of a case, identification and exit, against every sub-role and every state,
through a real YearService: a step by a key that may not make it is PERMISSION_DENIED and
moves nothing; a step out of order is FAILED_PRECONDITION naming the case's state (issue 16,
"Done when")."""

from __future__ import annotations

import grpc
import pytest

from clients.auth import open_channel
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import year_service_pb2 as ypb
from fupin.registry.v1 import year_service_pb2_grpc as ypb_grpc
from registry.access.policy import Role
from registry.year.workflow import STEPS, Actor, CaseState
from tests import factories
from tests.registry.year.test_year_cases import PAST, Offices, offices  # noqa: F401
from tests.rpcerrors import rpc_fails

DENIED = grpc.StatusCode.PERMISSION_DENIED
FAILED = grpc.StatusCode.FAILED_PRECONDITION
# The RPC of each step that moves a case, as a request for the case.
CALLS = {
    "review": ("ReviewCase", lambda c: ypb.ReviewCaseRequest(case_id=c, approved=True)),
    "notice": (
        "StartNotice",
        lambda c: ypb.StartNoticeRequest(
            case_id=c, notice_start=PAST[0], notice_end=PAST[1], notice_place="村务公开栏"
        ),
    ),
    "object": (
        "RecordObjection",
        lambda c: ypb.RecordObjectionRequest(case_id=c, objector="村民", text="收入不实"),
    ),
    "resolve": (
        "ResolveObjection",
        lambda c: ypb.ResolveObjectionRequest(
            case_id=c, objection_id=1, upheld=False, resolution="核实"
        ),
    ),
    "approve": ("ApproveCase", lambda c: ypb.ApproveCaseRequest(case_id=c)),
    "file": ("FileCase", lambda c: ypb.FileCaseRequest(case_id=c)),
}
KEYS = {
    "village": Actor.VILLAGE_COMMITTEE,
    "township": Actor.TOWNSHIP,
    "county": Actor.COUNTY,
    "auditor": None,
    "platform": None,
}


# An exit needs its conditions met: income over the line, each 两不愁三保障 sub-score ≥ 60.
LEAVING = dict(housing_safety=90, food_security=90, children_schooling=90, health=80)


@pytest.fixture(params=[ypb.IDENTIFICATION, ypb.EXIT], ids=["identification", "exit"])
def every_state(request, offices, registry, server):  # noqa: F811
    """A case of the kind in each state, each of its own household of the offices' village,
    and the stubs by key name (a platform key too)."""
    o: Offices = offices
    kind = request.param
    indicators = factories.indicators(income_per_capita_fen=900_000, **LEAVING)
    ids = {}
    for state in CaseState:
        household = factories.create_household(
            registry, o.village_id, **({"indicators": indicators} if kind == ypb.EXIT else {})
        )
        case = o.village.ProposeCase(
            ypb.ProposeCaseRequest(household_id=household.id, kind=kind, reason="脱贫")
        )
        if state is not CaseState.PROPOSED:
            approved = state is not CaseState.REJECTED
            o.village.ReviewCase(ypb.ReviewCaseRequest(case_id=case.id, approved=approved))
        if state in (CaseState.ON_NOTICE, CaseState.APPROVED, CaseState.FILED):
            o.village.StartNotice(CALLS["notice"][1](case.id))
        if state in (CaseState.APPROVED, CaseState.FILED):
            o.county.ApproveCase(ypb.ApproveCaseRequest(case_id=case.id))
        if state is CaseState.FILED:
            o.county.FileCase(ypb.FileCaseRequest(case_id=case.id))
        assert o.admin.GetCase(ypb.GetCaseRequest(case_id=case.id)).state == state
        ids[state] = case.id
    buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    secret = server.keys.create(Role.PLATFORM, buyer.id).secret
    with open_channel(f"127.0.0.1:{server.port}", api_key=secret) as channel:
        stubs = {name: getattr(o, name) for name in KEYS if name != "platform"}
        stubs["platform"] = ypb_grpc.YearServiceStub(channel)
        yield o, ids, stubs


def _snapshot(o: Offices, case_id: str) -> tuple[int, int, int]:
    case = o.admin.GetCase(ypb.GetCaseRequest(case_id=case_id))
    return case.state, len(case.history), len(case.objections)


def test_every_step_by_a_key_that_may_not_is_permission_denied(every_state):
    """Each step on a case in the state it starts from, by each key whose sub-role (or role)
    may not make it: PERMISSION_DENIED, and the case, its history and objections unchanged."""
    o, ids, stubs = every_state
    denied = 0
    for step, (method, build) in CALLS.items():
        case_id = ids[STEPS[step].sources[0]]
        for name, actor in KEYS.items():
            if actor in STEPS[step].actors:
                continue
            before = _snapshot(o, case_id)
            call, request = getattr(stubs[name], method), build(case_id)
            rpc_fails(lambda f=call, r=request: f(r), DENIED)
            assert _snapshot(o, case_id) == before, (step, name)
            denied += 1
    for name in ("auditor", "platform"):
        rpc_fails(
            lambda n=name: stubs[n].ProposeCase(
                ypb.ProposeCaseRequest(household_id=o.household_id, kind=1)
            ),
            DENIED,
        )
    assert denied == 20  # review 4, notice 3, object 2, resolve 3, approve 4, file 4


def test_every_step_out_of_order_names_the_state(every_state):
    """Each step on a case in each state it does not start from, by a key that may make it:
    FAILED_PRECONDITION naming the state, and nothing moves; proposing for a household with a
    case open names that case's state."""
    o, ids, stubs = every_state
    allowed = {"review": "village", "notice": "village", "object": "township",
               "resolve": "county", "approve": "county", "file": "county"}  # fmt: skip
    refused = 0
    for step, (method, build) in CALLS.items():
        for state, case_id in ids.items():
            if state in STEPS[step].sources:
                continue
            before = _snapshot(o, case_id)
            call, request = getattr(stubs[allowed[step]], method), build(case_id)
            error = rpc_fails(lambda f=call, r=request: f(r), FAILED)
            assert f"is {state.name}" in error.details(), (step, state)
            assert _snapshot(o, case_id) == before, (step, state)
            refused += 1
    assert refused == 6 * 6 - 6  # each step starts from exactly one state
    case = o.admin.GetCase(ypb.GetCaseRequest(case_id=ids[CaseState.REVIEWED]))
    error = rpc_fails(
        lambda: o.village.ProposeCase(
            ypb.ProposeCaseRequest(household_id=case.household_id, kind=1)
        ),
        FAILED,
    )
    assert "(REVIEWED)" in error.details()
