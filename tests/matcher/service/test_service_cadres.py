"""AssignCadres and ContractHouseholds over a real server, inline problems: results checked
against independent computations (linear_sum_assignment, milp, brute force, blocking pairs by
the definition), and bad input named field by field."""

from __future__ import annotations

import dataclasses
import itertools
import random

import grpc
import pytest
from hypothesis import HealthCheck, given, settings

from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import resources_pb2 as pb
from matcher.solvers.stationing import Cadre, StationingProblem, Village
from matcher.solvers.stationing.stability import StableProblem
from tests.matcher.service.cadre_requests import assign_request, contract_request
from tests.matcher.solvers import test_contracting, test_stability, test_stationing_exact
from tests.matcher.solvers import test_stationing_fast as fast
from tests.rpcerrors import fields_of, rpc_fails

SERVER_EXAMPLES = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def matcher(channel):
    return mpb_grpc.MatcherServiceStub(channel)


def with_seats(problem: StationingProblem) -> StationingProblem:
    """Villages with no seat at all cannot be said inline (0/0 means the rules' default)."""
    villages = tuple(dataclasses.replace(v, team_max=max(v.team_max, 1)) for v in problem.villages)
    return dataclasses.replace(problem, villages=villages)


@SERVER_EXAMPLES
@given(fast.problems())
def test_fast_path_matches_linear_sum_assignment(matcher, problem):
    """A run with only sizes, distance and continuity is optimal, as the Hungarian method says."""
    problem = with_seats(problem)
    run = matcher.AssignCadres(assign_request(problem), timeout=60)
    assert run.kind == mpb.CADRE_STATIONING and run.state == mpb.PROPOSED
    assert run.status == mpb.OPTIMAL and run.stationing.fast_path
    assert run.objective == fast.assignment_optimum(problem)


@SERVER_EXAMPLES
@given(test_stationing_exact.problems())
def test_exact_path_matches_an_independent_milp(matcher, problem):
    """Coverage, rank and unit limits: the run reaches the MILP optimum, and its postings cost
    that much by the rules' wording."""
    problem = with_seats(problem)
    run = matcher.AssignCadres(assign_request(problem), timeout=60)
    expected = test_stationing_exact.milp_optimum(problem)
    if expected is None:
        assert run.status == mpb.INFEASIBLE
        return
    assert run.status == mpb.OPTIMAL and run.objective == expected
    cadres = [c.id for c in problem.cadres]
    villages = [v.id for v in problem.villages]
    posting = {
        cadres.index(p.cadre_id): villages.index(p.village_id) for p in run.stationing.postings
    }
    assert test_stationing_exact.cost_of(problem, posting) == expected


def cadre(name, km_north, **kw):
    fields = {"rank": 3, "skills": frozenset(), "home_unit": "u", "lat": 26 + km_north / 111.2}
    fields.update(kw)
    return Cadre(name, fields.pop("rank"), fields.pop("skills"), fields.pop("home_unit"),
                 fields.pop("lat"), 107.0, fields.pop("max_distance_km", 50), **fields)  # fmt: skip


def village(name, km_north, **kw):
    return Village(name, 26 + km_north / 111.2, 107.0, **{"team_min": 1, "team_max": 1, **kw})


def test_every_posting_and_shortage_is_explained(matcher):
    """Skills matched, distance, rank, continuity, the first secretary; and each short village
    with its reason."""
    problem = StationingProblem(
        (
            cadre("doctor", 1, skills=frozenset({"health"}), current_village_id="clinic"),
            cadre("junior", 0, rank=1),
            cadre("far", 200, max_distance_km=10),
        ),
        (
            village("clinic", 0, needs=frozenset({"health"})),
            village("hill", 2, min_secretary_rank=4),
            village("remote", -300),
        ),
        continuity_threshold=5_000,  # moving the doctor would save 2 km: not enough
    )
    run = matcher.AssignCadres(assign_request(problem), timeout=60)
    by_cadre = {p.cadre_id: p for p in run.stationing.postings}
    doctor = by_cadre["doctor"]
    assert (doctor.village_id, list(doctor.skills_matched)) == ("clinic", ["health"])
    assert doctor.continuity == cpb.POSTING_KEPT and doctor.is_secretary
    assert doctor.rank == 3 and doctor.previous_village_id == "clinic"
    assert doctor.distance_km == pytest.approx(1.0, abs=0.01)
    assert by_cadre["junior"].village_id == "hill"
    assert by_cadre["junior"].continuity == cpb.POSTING_NEW
    assert not by_cadre["junior"].is_secretary  # rank 1 < 4
    short = {s.village_id: s.reason for s in run.stationing.short}
    assert short == {"hill": cpb.NO_RANK, "remote": cpb.NO_ELIGIBLE_WITHIN_DISTANCE}


def test_pinned_cadre_stays_through_the_service(matcher):
    """A pinned cadre keeps a far posting although another village is next door."""
    problem = StationingProblem(
        (cadre("pinned", 0, current_village_id="far", pinned=True, max_distance_km=5),),
        (village("near", 0.5), village("far", 30)),
    )
    run = matcher.AssignCadres(assign_request(problem), timeout=60)
    [posting] = run.stationing.postings
    assert (posting.village_id, posting.continuity) == ("far", cpb.POSTING_KEPT)
    assert [s.village_id for s in run.stationing.short] == ["near"]


def preferences(stable: StableProblem) -> cpb.Preferences:
    return cpb.Preferences(
        cadres=[cpb.PreferenceList(owner_id=c, ranked=vs) for c, vs in stable.cadre_prefs.items()],
        villages=[
            cpb.PreferenceList(owner_id=v, ranked=cs) for v, cs in stable.village_prefs.items()
        ],
    )


def random_preferences(rng: random.Random, problem: StationingProblem) -> StableProblem:
    """Random strict lists over all pairs; seats = team_max; cost = metres (pairs in reach)."""
    cadres, villages = [c.id for c in problem.cadres], [v.id for v in problem.villages]
    cost = {}
    for c in problem.cadres:
        for v in problem.villages:
            metres = test_stationing_exact.haversine_m(c.lat, c.lng, v.lat, v.lng)
            if metres <= c.max_distance_km * 1000:
                cost[c.id, v.id] = round(metres)
    cadre_prefs = {c: rng.sample(villages, rng.randint(0, len(villages))) for c in cadres}
    village_prefs = {v: rng.sample(cadres, rng.randint(0, len(cadres))) for v in villages}
    # What the service keeps of the lists: pairs within reach only.
    cadre_prefs = {c: [v for v in vs if (c, v) in cost] for c, vs in cadre_prefs.items()}
    village_prefs = {v: [c for c in cs if (c, v) in cost] for v, cs in village_prefs.items()}
    capacity = {v.id: v.team_max for v in problem.villages}
    return StableProblem(cadre_prefs, village_prefs, capacity, cost)


def small_problem(rng: random.Random) -> StationingProblem:
    villages = tuple(
        village(f"v{j}", rng.uniform(-10, 10), team_min=0, team_max=rng.randint(1, 2))
        for j in range(3)
    )
    cadres = tuple(
        cadre(f"c{i}", rng.uniform(-10, 10), max_distance_km=rng.uniform(5, 25)) for i in range(5)
    )
    return StationingProblem(cadres, villages)


@pytest.mark.parametrize("seed", range(6))
def test_stable_mode_is_the_least_cost_stable_assignment(matcher, seed):
    """STABLE mode: no blocking pair (counted by the definition), and no stable assignment
    (enumerated) costs less."""
    rng = random.Random(seed)
    problem = small_problem(rng)
    stable = random_preferences(rng, problem)
    request = assign_request(problem, mode=cpb.STABLE, preferences=preferences(stable))
    run = matcher.AssignCadres(request, timeout=60)
    posting = dict.fromkeys(stable.cadre_prefs)
    posting.update({p.cadre_id: p.village_id for p in run.stationing.postings})
    assert test_stability.count_blocking(posting, stable) == 0
    assert not run.stationing.blocking_pairs and run.stationing.mode == cpb.STABLE
    best = min(
        test_stability.cost(p, stable)
        for p in test_stability.all_assignments(stable)
        if test_stability.count_blocking(p, stable) == 0
    )
    assert run.status == mpb.OPTIMAL and run.objective == best


@pytest.mark.parametrize("seed", range(6))
def test_min_cost_mode_reports_the_blocking_pairs(matcher, seed):
    """MIN_COST with preferences: the blocking pairs reported are those of the definition."""
    rng = random.Random(100 + seed)
    problem = small_problem(rng)
    stable = random_preferences(rng, problem)
    run = matcher.AssignCadres(assign_request(problem, preferences=preferences(stable)))
    posting = dict.fromkeys(stable.cadre_prefs)
    posting.update({p.cadre_id: p.village_id for p in run.stationing.postings})
    assert run.stationing.preferences_used
    assert len(run.stationing.blocking_pairs) == test_stability.count_blocking(posting, stable)
    for pair in run.stationing.blocking_pairs:
        assert posting[pair.cadre_id] != pair.village_id


@pytest.mark.parametrize("seed", range(8))
def test_contracting_matches_brute_force(matcher, seed):
    """Tiny instances: the optimum over every contract choice (or INFEASIBLE when none fits)."""
    problem = test_contracting.random_problem(random.Random(seed), 3, 6)
    expected = test_contracting.brute_force(problem)
    run = matcher.ContractHouseholds(contract_request(problem), timeout=60)
    assert run.kind == mpb.CADRE_CONTRACTING
    if expected is None:
        assert run.status == mpb.INFEASIBLE and run.contracting.uncovered
    else:
        assert run.status == mpb.OPTIMAL and run.objective == expected


@pytest.mark.parametrize("seed", range(4))
def test_contracting_matches_an_independent_milp(matcher, seed):
    """Bigger instances (4 cadres, 12 households) against scipy's MILP; loads within quota."""
    problem = test_contracting.random_problem(random.Random(1000 + seed), 4, 12)
    expected = test_contracting.milp_optimum(problem)
    run = matcher.ContractHouseholds(contract_request(problem), timeout=60)
    if expected is None:
        assert run.status == mpb.INFEASIBLE
        return
    assert run.status == mpb.OPTIMAL and run.objective == expected
    assert all(load.effort <= load.quota for load in run.contracting.loads)
    # fairness: each rank's effort and quota, summed from the cadres' loads; every household
    # that needs a cadre has one; the weight the run used
    result = run.contracting
    for rank in result.rank_loads:
        mine = [x for x in result.loads if x.rank == rank.rank]
        assert rank.load == sum(x.effort for x in mine)
        assert rank.capacity == sum(x.quota for x in mine)
        assert rank.loaded == sum(1 for x in mine if x.effort > 0)
    assert {r.rank for r in result.rank_loads} == {c.rank for c in problem.cadres}
    assert result.coverage == 1.0 and result.rank_balance_m == problem.rank_balance_m


def test_explicit_pair_scores_replace_the_defaults(matcher):
    """Only listed pairs, at the office's cost and effort: brute force over those pairs."""
    problem = test_contracting.random_problem(random.Random(7), 3, 4)
    rng = random.Random(8)
    poor = [h for h in problem.households if h.status in problem.statuses]
    scores = {
        (h.id, c.id): (rng.randint(0, 50), rng.randint(1, 4))
        for h in problem.households
        for c in problem.cadres
        if rng.random() < 0.7
    }
    request = contract_request(problem)
    request.inline.pairs.extend(
        cpb.PairScore(household_id=h, cadre_id=c, cost=cost, effort=effort)
        for (h, c), (cost, effort) in scores.items()
    )
    quota = {c.id: problem.quota_by_rank[c.rank] for c in problem.cadres}
    best = None
    options = [[c.id for c in problem.cadres if (h.id, c.id) in scores] for h in poor]
    for choice in itertools.product(*options):
        load = dict.fromkeys(quota, 0)
        for h, c in zip(poor, choice, strict=True):
            load[c] += scores[h.id, c][1]
        if all(load[c] <= quota[c] for c in quota):
            total = sum(scores[h.id, c][0] for h, c in zip(poor, choice, strict=True))
            best = total if best is None else min(best, total)
    run = matcher.ContractHouseholds(request, timeout=60)
    if best is None:
        assert run.status == mpb.INFEASIBLE
    else:
        assert run.status == mpb.OPTIMAL and run.objective == best
        for k in run.contracting.contracts:
            assert (k.cost, k.effort) == scores[k.household_id, k.cadre_id]


def test_bad_stationing_input_names_the_fields(matcher):
    """Each bad field is named; nothing is stored."""
    request = mpb.AssignCadresRequest(
        inline=cpb.StationingProblem(
            cadres=[
                cpb.InlineCadre(
                    id="a", rank=9, location=pb.LatLng(latitude=95), max_distance_km=10
                ),
                cpb.InlineCadre(id="b", rank=1, max_distance_km=-1, current_village_id="nope"),
            ],
            villages=[cpb.InlineVillage(id="v", team_min=3, team_max=1)],
        ),
        preferences=cpb.Preferences(cadres=[cpb.PreferenceList(owner_id="zz", ranked=["v"])]),
    )
    error = rpc_fails(lambda: matcher.AssignCadres(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(fields_of(error)) == {
        "inline.villages[0].location",
        "inline.villages[0].team_max",
        "inline.cadres[0].rank",
        "inline.cadres[0].location.latitude",
        "inline.cadres[1].location",
        "inline.cadres[1].max_distance_km",
        "inline.cadres[1].current_village_id",
    }
    error = rpc_fails(
        lambda: matcher.AssignCadres(mpb.AssignCadresRequest()), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert fields_of(error) == ["source"]
    good = assign_request(StationingProblem((cadre("a", 0),), (village("v", 0),)))
    good.preferences.cadres.add(owner_id="zz", ranked=["v", "v"])
    error = rpc_fails(lambda: matcher.AssignCadres(good), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == ["preferences.cadres[0].owner_id", "preferences.cadres[0].ranked"]
    assert not matcher.ListMatchRuns(mpb.ListMatchRunsRequest()).runs


def test_bad_contracting_input_names_the_fields(matcher):
    problem = test_contracting.random_problem(random.Random(1), 2, 2)
    request = contract_request(problem)
    request.inline.households[0].status = pb.HOUSEHOLD_STATUS_UNSPECIFIED
    request.inline.cadres[1].rank = 0
    request.inline.pairs.add(household_id="ghost", cadre_id=problem.cadres[0].id, effort=-1)
    request.rules.quotas.add(rank=1, quota=3)  # rank 1 twice
    request.rules.k_nearest = -2
    request.rules.rank_balance_m = 1_000_001
    error = rpc_fails(lambda: matcher.ContractHouseholds(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(fields_of(error)) == {
        "rules.rank_balance_m",
        "inline.households[0].status",
        "inline.cadres[1].rank",
        "inline.pairs[0].household_id",
        "inline.pairs[0].effort",
        "rules.quotas[3].rank",
        "rules.k_nearest",
    }
    assert not matcher.ListMatchRuns(mpb.ListMatchRunsRequest()).runs


def test_stable_mode_keeps_pinned_cadres(matcher):
    """Under STABLE mode a pinned cadre stays put even when it does not list its posting and
    the posting's village prefers another cadre who wants it."""
    problem = StationingProblem(
        (cadre("pinned", 0, current_village_id="home", pinned=True), cadre("free", 0.2)),
        (village("home", 3), village("next", 0.1)),
    )
    lists = StableProblem(
        {"pinned": ["next"], "free": ["home", "next"]},
        {"next": ["pinned", "free"], "home": ["free", "pinned"]},
        {"home": 1, "next": 1},
    )
    request = assign_request(problem, mode=cpb.STABLE, preferences=preferences(lists))
    run = matcher.AssignCadres(request, timeout=60)
    posted = {p.cadre_id: p.village_id for p in run.stationing.postings}
    assert posted == {"pinned": "home", "free": "next"}
