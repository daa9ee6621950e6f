"""ContractHouseholds: every problem an office can state — a cadre's own quota, quotas and
efforts to the int32 range, and a size limit on the pairs sent rather than households × cadres."""

from __future__ import annotations

import random

import grpc
import pytest

from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from matcher.service import contracting as contracting_kind
from matcher.service.kinds import Limit
from matcher.solvers.contracting import ContractingProblem
from registry.access.policy import Principal, Role
from registry.errors import InvalidArgument, ResourceExhausted
from tests.matcher.service.cadre_requests import contract_request
from tests.matcher.solvers import test_contracting
from tests.matcher.solvers.test_contracting import cadre, household
from tests.rpcerrors import fields_of, rpc_fails

TOP = 2**31 - 1


@pytest.fixture
def matcher(channel):
    return mpb_grpc.MatcherServiceStub(channel)


def test_cadre_quota_overrides_its_rank(matcher):
    """A rank-5 cadre with its own quota of 3 takes one household of 3 units, not two; one
    with quota 0 takes none; the loads report each cadre's own quota."""
    cadres = (cadre("part", 0, rank=5, quota=3), cadre("new", 0, rank=5, quota=0), cadre("far", 9))
    households = (household("h1", 0.1, causes=2), household("h2", 0.2, causes=2))
    run = matcher.ContractHouseholds(contract_request(ContractingProblem(cadres, households)))
    assert run.status == mpb.OPTIMAL
    assert sorted(k.cadre_id for k in run.contracting.contracts) == ["far", "part"]
    quotas = {x.cadre_id: (x.quota, x.households) for x in run.contracting.loads}
    assert quotas == {"part": (3, 1), "new": (0, 0), "far": (5, 1)}


def test_more_cells_than_the_old_limit_with_few_pairs(matcher):
    """2,500 households × 2,001 cadres (5,002,500 cells, above the old product limit) listing
    one pair per household: accepted, each household at its one pair's cost."""
    rng = random.Random(3)
    cadres = tuple(cadre(f"c{j}", j * 0.01) for j in range(2001))
    households = tuple(household(f"h{i}", 0) for i in range(2500))
    request = contract_request(ContractingProblem(cadres, households))
    costs = [rng.randint(0, 1000) for _ in households]
    request.inline.pairs.extend(
        cpb.PairScore(household_id=f"h{i}", cadre_id=f"c{i % 2001}", cost=cost, effort=1)
        for i, cost in enumerate(costs)
    )
    run = matcher.ContractHouseholds(request, timeout=120)
    assert run.status == mpb.OPTIMAL and run.objective == sum(costs)
    assert {k.household_id: k.cadre_id for k in run.contracting.contracts} == {
        f"h{i}": f"c{i % 2001}" for i in range(2500)
    }


def test_quotas_and_efforts_at_the_int32_edge(matcher):
    """Rank quota, cadre quota and effort all 2**31 - 1: accepted and solved exactly."""
    problem = ContractingProblem(
        (cadre("a", 0, quota=TOP), cadre("b", 1)), (household("h1", 0), household("h2", 1))
    )
    request = contract_request(problem)
    del request.rules.quotas[:]
    request.rules.quotas.add(rank=1, quota=TOP)
    for h in ("h1", "h2"):
        for c, cost in (("a", 1), ("b", 5)):
            request.inline.pairs.add(household_id=h, cadre_id=c, cost=cost, effort=TOP)
    run = matcher.ContractHouseholds(request, timeout=60)
    assert run.status == mpb.OPTIMAL and run.objective == 6
    assert sorted(x.effort for x in run.contracting.loads) == [TOP, TOP]


def test_out_of_range_quotas_efforts_and_repeated_pairs_are_named(matcher):
    """Past the int32 range, below 0, over 10^12 or a pair listed twice: each field named,
    nothing stored."""
    problem = test_contracting.random_problem(random.Random(1), 2, 2)
    request = contract_request(problem)
    request.inline.cadres[0].quota = -1
    request.rules.quotas[0].quota = -1
    h, c = problem.households[0].id, problem.cadres[0].id
    request.inline.pairs.add(household_id=h, cadre_id=c, cost=1, effort=TOP + 1)
    request.inline.pairs.add(household_id=h, cadre_id=c, cost=10**12 + 1, effort=1)
    request.inline.pairs.add(household_id="ghost", cadre_id="nobody", cost=0, effort=-1)
    error = rpc_fails(lambda: matcher.ContractHouseholds(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(fields_of(error)) == {
        "inline.cadres[0].quota",
        "rules.quotas[0].quota",
        "inline.pairs[0].effort",
        "inline.pairs[1].cost",
        "inline.pairs[1].cadre_id",  # repeats pair 0
        "inline.pairs[2].household_id",
        "inline.pairs[2].cadre_id",
        "inline.pairs[2].effort",
    }
    assert not matcher.ListMatchRuns(mpb.ListMatchRunsRequest()).runs


def test_many_bad_pairs_are_named_up_to_twenty_and_counted():
    """Thirty pairs naming no household: the first twenty named, the rest counted in one."""
    problem = test_contracting.random_problem(random.Random(2), 2, 2)
    request = contract_request(problem)
    for _ in range(30):
        request.inline.pairs.add(household_id="ghost", cadre_id=problem.cadres[0].id, effort=1)
    admin = Principal("k", Role.ADMIN)
    with pytest.raises(InvalidArgument) as raised:
        contracting_kind.prepare(request, None, admin, contracting_kind.LIMITS)  # type: ignore[arg-type]
    fields = [v.field for v in raised.value.violations]
    assert fields[:20] == [f"inline.pairs[{k}].household_id" for k in range(20)]
    assert fields[20:] == ["inline.pairs.household_id"]


def test_the_pairs_limit_counts_pairs_sent():
    """A limit of 3 pairs takes 3 and refuses 4, whatever households × cadres."""
    problem = test_contracting.random_problem(random.Random(4), 3, 3)
    request = contract_request(problem)
    for h in problem.households:
        request.inline.pairs.add(household_id=h.id, cadre_id=problem.cadres[0].id, effort=1)
    limits = {**contracting_kind.LIMITS, "pairs": Limit(3)}
    admin = Principal("k", Role.ADMIN)
    prepared = contracting_kind.prepare(request, None, admin, limits)  # type: ignore[arg-type]
    assert prepared.job.scores is not None and len(prepared.job.scores.household) == 3
    request.inline.pairs.add(household_id=problem.households[0].id, cadre_id="c1", effort=1)
    with pytest.raises(ResourceExhausted, match="at most 3 pairs"):
        contracting_kind.prepare(request, None, admin, limits)  # type: ignore[arg-type]
