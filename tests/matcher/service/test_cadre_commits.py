"""Cadre runs over registry data, committed: postings, contracts, the ledger, concurrency."""

from __future__ import annotations

import itertools
import threading

import grpc
import pytest
from sqlmodel import select

from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry.ledger import chain as ledger
from registry.resources import models
from tests import factories
from tests.matcher.solvers.test_stationing_exact import haversine_m
from tests.rpcerrors import fields_of, rpc_fails

ONE_EACH = cpb.StationingRules(team_min=1, team_max=1)
PARAMS = mpb.SolveParameters(time_limit_s=20)
A = pb.LatLng(latitude=23.71, longitude=117.18)
B = pb.LatLng(latitude=23.85, longitude=117.40)


@pytest.fixture
def matcher(channel):
    return mpb_grpc.MatcherServiceStub(channel)


def create_cadre(registry, name, lat, lng, **kw):
    cadre = factories.cadre(
        display_name=name, location=pb.LatLng(latitude=lat, longitude=lng), **kw
    )
    return registry.CreateCadre(api.CreateCadreRequest(cadre=cadre))


@pytest.fixture
def county(registry):
    """Two poor villages (one with ill households), three cadres, one of them a doctor."""
    a = factories.create_village(registry, location=A, needs=[])
    b = factories.create_village(registry, location=B, needs=["ecommerce"])
    factories.create_household(registry, a.id, causes=[pb.ILLNESS])
    factories.create_household(registry, b.id, causes=[pb.LACK_OF_TECHNOLOGY])
    cadres = [
        create_cadre(registry, "doctor", 23.70, 117.20, skills=["health"]),
        create_cadre(registry, "farmer", 23.86, 117.38, skills=["agronomy"]),
        create_cadre(registry, "clerk", 23.78, 117.30, skills=["finance"]),
    ]
    return a, b, cadres


def selection(**kw):
    return mpb.AssignCadresRequest(
        selection=cpb.CadreSelection(region_code=factories.ZHAOAN),
        rules=ONE_EACH,
        parameters=PARAMS,
        **kw,
    )


def cheapest_postings(villages, cadres):
    """One cadre per village, least total distance: every ordered choice, by hand."""
    best = None
    for chosen in itertools.permutations(cadres, len(villages)):
        total = sum(
            haversine_m(c.location.latitude, c.location.longitude,
                        v.location.latitude, v.location.longitude)
            for c, v in zip(chosen, villages, strict=True)
        )  # fmt: skip
        if best is None or total < best[0]:
            best = (total, {c.id: v.id for c, v in zip(chosen, villages, strict=True)})
    return best


def ledger_rows(server, kind):
    with server.store.transaction() as session:
        rows = session.scalars(
            select(models.LedgerEntry).where(models.LedgerEntry.kind == kind)
        ).all()
        assert ledger.first_broken(session) is None
        return [(r.run_id, r.subject_id, r.counterpart_id, r.quantity) for r in rows]


def test_selection_run_commits_postings_and_ledger(matcher, registry, server, county):
    """Needs come from the households' causes; the commit posts the cadres and records each
    posting in the ledger; a retried commit changes nothing."""
    a, b, cadres = county
    run = matcher.AssignCadres(selection(), timeout=60)
    total_m, expected = cheapest_postings([a, b], cadres)
    assert {p.cadre_id: p.village_id for p in run.stationing.postings} == expected
    assert run.objective == pytest.approx(total_m, abs=2)
    doctor = next(p for p in run.stationing.postings if p.village_id == a.id)
    assert list(doctor.skills_matched) == ["health"]  # ILLNESS → health
    farmer = next(p for p in run.stationing.postings if p.village_id == b.id)
    assert list(farmer.skills_matched) == ["agronomy"]  # LACK_OF_TECHNOLOGY → agronomy

    committed = matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run.id, request_id="k1"))
    assert committed.state == mpb.COMMITTED
    for cadre_id, village_id in expected.items():
        assert registry.GetCadre(api.GetCadreRequest(id=cadre_id)).current_village_id == village_id
    entries = sorted((run.id, c, v, 1) for c, v in expected.items())
    assert sorted(ledger_rows(server, "cadre_posting")) == entries
    again = matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run.id, request_id="k1"))
    assert again.state == mpb.COMMITTED
    assert len(ledger_rows(server, "cadre_posting")) == len(entries)


def test_concurrent_commits_never_post_a_cadre_twice(matcher, registry, server, county):
    """Two runs read the same cadres; committed at once, exactly one wins and the other is
    ABORTED naming the cadres whose rows changed."""
    runs = [matcher.AssignCadres(selection(), timeout=60) for _ in range(2)]
    assert runs[0].stationing.postings and runs[1].stationing.postings
    outcomes: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def commit(run_id):
        barrier.wait()
        try:
            outcomes[run_id] = matcher.CommitMatchRun(
                mpb.CommitMatchRunRequest(id=run_id), timeout=60
            ).state
        except grpc.RpcError as error:
            outcomes[run_id] = error

    threads = [threading.Thread(target=commit, args=(r.id,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    won = [r for r in runs if outcomes[r.id] == mpb.COMMITTED]
    lost = [r for r in runs if isinstance(outcomes[r.id], grpc.RpcError)]
    assert len(won) == 1 and len(lost) == 1
    error = outcomes[lost[0].id]
    assert error.code() == grpc.StatusCode.ABORTED
    posted = sorted(p.cadre_id for p in won[0].stationing.postings)
    assert fields_of(error) == [f"cadres[{c}]" for c in posted]
    assert {r[0] for r in ledger_rows(server, "cadre_posting")} == {won[0].id}
    assert matcher.GetMatchRun(mpb.GetMatchRunRequest(id=lost[0].id)).state == mpb.PROPOSED


def test_pinned_cadre_is_neither_moved_nor_recorded(matcher, registry, server, county):
    """A cadre pinned to village A stays there although nearer to B; only the others move."""
    a, _, cadres = county
    farmer = cadres[1]
    registry.UpdateCadre(
        api.UpdateCadreRequest(
            cadre=pb.Cadre(id=farmer.id, current_village_id=a.id, pinned=True),
            update_mask={"paths": ["current_village_id", "pinned"]},
        )
    )
    run = matcher.AssignCadres(selection(), timeout=60)
    postings = {p.cadre_id: p for p in run.stationing.postings}
    assert postings[farmer.id].village_id == a.id
    assert postings[farmer.id].continuity == cpb.POSTING_KEPT
    matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run.id))
    assert registry.GetCadre(api.GetCadreRequest(id=farmer.id)).current_village_id == a.id
    assert farmer.id not in {r[1] for r in ledger_rows(server, "cadre_posting")}


def test_contracting_run_commits_contracts_and_ledger(matcher, registry, server, county):
    """Households go to the cadre stationed in their village; the commit stores the contracts
    and their ledger entries; a second run over the same cadres can no longer commit."""
    a, b, cadres = county
    doctor, farmer, _ = cadres
    for cadre, village in ((doctor, a), (farmer, b)):
        registry.UpdateCadre(
            api.UpdateCadreRequest(
                cadre=pb.Cadre(id=cadre.id, current_village_id=village.id),
                update_mask={"paths": ["current_village_id"]},
            )
        )
    extra = factories.create_household(registry, a.id, causes=[pb.EDUCATION])
    request = mpb.ContractHouseholdsRequest(
        selection=cpb.ContractingSelection(region_code=factories.ZHAOAN), parameters=PARAMS
    )
    run = matcher.ContractHouseholds(request, timeout=60)
    second = matcher.ContractHouseholds(request, timeout=60)
    households = registry.ListHouseholds(api.ListHouseholdsRequest()).households
    home = {h.id: h.village_id for h in households}
    station = {doctor.id: a.id, farmer.id: b.id}
    contracts = {k.household_id: k.cadre_id for k in run.contracting.contracts}
    assert set(contracts) == set(home) and extra.id in contracts
    assert all(station.get(c) == home[h] for h, c in contracts.items())
    assert run.objective == 0 and run.status == mpb.OPTIMAL

    matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run.id))
    with server.store.transaction() as session:
        stored = {
            r.household_id: (r.cadre_id, r.run_id)
            for r in session.scalars(select(models.HouseholdContract))
        }
    assert stored == {h: (c, run.id) for h, c in contracts.items()}
    assert sorted(ledger_rows(server, "household_contract")) == sorted(
        (run.id, h, c, 1) for h, c in contracts.items()
    )
    error = rpc_fails(
        lambda: matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=second.id)),
        grpc.StatusCode.ABORTED,
    )
    assert set(fields_of(error)) == {f"cadres[{doctor.id}]", f"cadres[{farmer.id}]"}


def test_inline_runs_cannot_be_committed(matcher):
    """An inline problem's cadres are not the registry's: FAILED_PRECONDITION."""
    request = mpb.AssignCadresRequest(
        inline=cpb.StationingProblem(
            cadres=[cpb.InlineCadre(id="c", rank=1, location=A, max_distance_km=50)],
            villages=[cpb.InlineVillage(id="v", location=A)],
        ),
        parameters=PARAMS,
    )
    run = matcher.AssignCadres(request, timeout=60)
    assert [p.cadre_id for p in run.stationing.postings] == ["c"]
    rpc_fails(
        lambda: matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert matcher.GetMatchRun(mpb.GetMatchRunRequest(id=run.id)).state == mpb.PROPOSED


def test_bad_selection_is_invalid_argument(matcher):
    error = rpc_fails(
        lambda: matcher.AssignCadres(
            mpb.AssignCadresRequest(selection=cpb.CadreSelection(region_code="35x"))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["selection.region_code"]
    rules = cpb.StationingRules(cause_skills=[cpb.CauseSkill(cause="HUNGER", skill="Food!")])
    error = rpc_fails(
        lambda: matcher.AssignCadres(
            mpb.AssignCadresRequest(selection=cpb.CadreSelection(), rules=rules)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["rules.cause_skills[0].cause", "rules.cause_skills[0].skill[0]"]
    error = rpc_fails(
        lambda: matcher.ContractHouseholds(
            mpb.ContractHouseholdsRequest(
                selection=cpb.ContractingSelection(),
                rules=cpb.ContractingRules(quotas=[cpb.RankQuota(rank=1, quota=-1)]),
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["rules.quotas[0].quota"]
    assert not matcher.ListMatchRuns(mpb.ListMatchRunsRequest()).runs
