"""Cadre work through a real CadreWorkService: visits, the assessment (checked against a
computation by hand), and a recall whose households a new contracting run covers."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from sqlmodel import select

from clients.auth import open_channel
from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import cadre_work_service_pb2 as wpb
from fupin.registry.v1 import cadre_work_service_pb2_grpc as wpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry.access.policy import Role
from registry.cadrework.models import CadreVisit
from registry.ledger import chain as ledger
from registry.resources import models
from registry.season.models import HouseholdIncome
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails

A = pb.LatLng(latitude=23.71, longitude=117.18)
B = pb.LatLng(latitude=23.85, longitude=117.40)
PARAMS = mpb.SolveParameters(time_limit_s=20)
TODAY = dt.datetime.now(dt.UTC).date()


def contract_region(matcher: mpb_grpc.MatcherServiceStub) -> mpb.MatchRun:
    """A contracting run over Zhao'an, committed."""
    request = mpb.ContractHouseholdsRequest(
        selection=cpb.ContractingSelection(region_code=factories.ZHAOAN), parameters=PARAMS
    )
    run = matcher.ContractHouseholds(request, timeout=60)
    matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run.id))
    return run


@pytest.fixture
def work(server, registry, channel):
    """Two poor villages, two cadres stationed one in each (home region Zhao'an), three
    households contracted; stubs for Zhao'an's office, another county's and an auditor."""
    a = factories.create_village(registry, location=A, needs=[])
    b = factories.create_village(registry, location=B, needs=[])
    households = [
        factories.create_household(registry, v.id, causes=[pb.ILLNESS]) for v in (a, a, b)
    ]
    cadres = []
    for name, village in (("doctor", a), ("farmer", b)):
        cadre = factories.cadre(
            display_name=name, location=village.location, home_region_code=factories.ZHAOAN
        )
        created = registry.CreateCadre(api.CreateCadreRequest(cadre=cadre))
        registry.UpdateCadre(
            api.UpdateCadreRequest(
                cadre=pb.Cadre(id=created.id, current_village_id=village.id),
                update_mask={"paths": ["current_village_id"]},
            )
        )
        cadres.append(created)
    matcher = mpb_grpc.MatcherServiceStub(channel)
    run = contract_region(matcher)
    keys = {
        "office": server.keys.create(Role.OFFICE, factories.ZHAOAN).secret,
        "other": server.keys.create(Role.OFFICE, "110101").secret,
        "auditor": server.keys.create(Role.AUDITOR, factories.ZHAOAN).secret,
    }
    channels = {k: open_channel(f"127.0.0.1:{server.port}", api_key=s) for k, s in keys.items()}
    stubs = {k: wpb_grpc.CadreWorkServiceStub(c) for k, c in channels.items()}
    contracts = {k.household_id: k.cadre_id for k in run.contracting.contracts}
    yield a, b, households, cadres, contracts, stubs, matcher
    for c in channels.values():
        c.close()


def visit(cadre_id: str, household_id: str, day: dt.date, **kw: str) -> wpb.RecordVisitRequest:
    return wpb.RecordVisitRequest(
        cadre_id=cadre_id, household_id=household_id, date=day.isoformat(), done="talked", **kw
    )


def stored_visits(server) -> int:
    with server.store.transaction() as session:
        return len(session.scalars(select(CadreVisit)).all())


def test_visits_of_contracted_households_only_and_in_the_cadres_region(server, work):
    """A visit of a household contracted to the cadre is kept; another household is
    FAILED_PRECONDITION; another county's office finds no such cadre; bad fields are named and
    nothing is stored; an auditor reads the visits with the notes masked."""
    _, _, _, cadres, contracts, stubs, _ = work
    doctor = cadres[0]
    mine = sorted(h for h, c in contracts.items() if c == doctor.id)
    theirs = next(h for h, c in contracts.items() if c != doctor.id)
    office = stubs["office"]
    first = office.RecordVisit(
        visit(doctor.id, mine[0], TODAY, follow_up="clinic", request_id="r1")
    )
    again = office.RecordVisit(
        visit(doctor.id, mine[0], TODAY, follow_up="clinic", request_id="r1")
    )
    assert again.id == first.id and first.follow_up == "clinic"
    rpc_fails(
        lambda: office.RecordVisit(visit(doctor.id, theirs, TODAY)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    rpc_fails(
        lambda: stubs["other"].RecordVisit(visit(doctor.id, mine[0], TODAY)),
        grpc.StatusCode.NOT_FOUND,
    )
    tomorrow = TODAY + dt.timedelta(days=1)
    error = rpc_fails(
        lambda: office.RecordVisit(
            wpb.RecordVisitRequest(
                cadre_id=doctor.id, household_id=mine[0], date=tomorrow.isoformat(), done=" "
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(fields_of(error)) == {"date", "done"}
    error = rpc_fails(
        lambda: office.RecordVisit(visit(doctor.id, mine[0], TODAY, follow_up="x" * 1001)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["follow_up"]
    assert stored_visits(server) == 1
    seen = stubs["auditor"].ListVisits(wpb.ListVisitsRequest(cadre_id=doctor.id)).visits
    assert [(v.household_id, v.done, v.follow_up) for v in seen] == [
        (mine[0], "(masked)", "(masked)")
    ]
    assert office.ListVisits(wpb.ListVisitsRequest(household_id=mine[0])).visits[0].done == "talked"
    rpc_fails(
        lambda: stubs["other"].ListVisits(wpb.ListVisitsRequest(cadre_id=doctor.id)),
        grpc.StatusCode.NOT_FOUND,
    )


def test_assessment_matches_a_computation_by_hand(server, work):
    """Visits, overdue households, income change and ranking, recomputed from what was
    stored: the doctor visited both its households, the farmer its one long ago."""
    _, _, _, cadres, contracts, stubs, _ = work
    doctor, farmer = cadres
    office = stubs["office"]
    start, end = TODAY - dt.timedelta(days=60), TODAY
    by_cadre: dict[str, list[str]] = {doctor.id: [], farmer.id: []}
    for h, c in sorted(contracts.items()):
        by_cadre[c].append(h)
    days = {doctor.id: [TODAY - dt.timedelta(days=d) for d in (3, 10, 40)], farmer.id: []}
    for c, hs in by_cadre.items():
        for i, day in enumerate(days[c]):
            office.RecordVisit(visit(c, hs[i % len(hs)], day))
    old = start - dt.timedelta(days=5)
    for h in by_cadre[farmer.id]:
        office.RecordVisit(visit(farmer.id, h, old))  # before the period: overdue
    incomes = {h: (100_000 * (i + 1), 150_000 * (i + 1)) for i, h in enumerate(sorted(contracts))}
    with server.store.transaction(write=True) as session:
        for h, (before, after) in incomes.items():
            for year, amount in ((TODAY.year - 1, before), (TODAY.year, after)):
                session.add(
                    HouseholdIncome(
                        household_id=h, year=year, produce_fen=amount, update_time=models.utcnow()
                    )
                )
    found = office.AssessCadres(
        wpb.AssessCadresRequest(period_start=start.isoformat(), period_end=end.isoformat())
    )
    assert found.year == TODAY.year and found.overdue_days == 30 and found.unit_digits == 9
    got = {x.cadre_id: x for x in found.cadres}
    for c, hs in by_cadre.items():
        stamps = {h: [d for i, d in enumerate(days[c]) if hs[i % len(hs)] == h] for h in hs}
        if c == farmer.id:
            stamps = {h: [old] for h in hs}
        in_period = sum(1 for h in hs for d in stamps[h] if start <= d <= end)
        overdue = sum(1 for h in hs if not stamps[h] or (end - max(stamps[h])).days > 30)
        change = sum(incomes[h][1] - incomes[h][0] for h in hs)
        x = got[c]
        assert (x.households, x.visits, x.overdue_households) == (len(hs), in_period, overdue)
        assert x.visited_households == sum(
            1 for h in hs if any(start <= d <= end for d in stamps[h])
        )
        assert x.income_change_fen == change
        assert x.visits_per_household == pytest.approx(in_period / len(hs))
        assert x.unit == factories.ZHAOAN + x.unit[6:] and len(x.unit) == 9
    assert got[doctor.id].overdue_households == 0 and got[farmer.id].overdue_households == 1
    # each village is a township of its own here: each cadre first of one; in the county the
    # doctor (no household overdue) ranks before the farmer
    assert got[doctor.id].unit != got[farmer.id].unit
    assert all((x.unit_rank, x.unit_size) == (1, 1) for x in found.cadres)
    county = office.AssessCadres(
        wpb.AssessCadresRequest(
            period_start=start.isoformat(), period_end=end.isoformat(), unit_digits=6
        )
    )
    assert [(x.cadre_id, x.unit, x.unit_rank, x.unit_size) for x in county.cadres] == [
        (doctor.id, factories.ZHAOAN, 1, 2),
        (farmer.id, factories.ZHAOAN, 2, 2),
    ]
    error = rpc_fails(
        lambda: office.AssessCadres(
            wpb.AssessCadresRequest(
                period_start=end.isoformat(), period_end=start.isoformat(), unit_digits=7
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(fields_of(error)) == {"period_end", "unit_digits"}
    rpc_fails(
        lambda: office.AssessCadres(
            wpb.AssessCadresRequest(
                region_code="110101", period_start=start.isoformat(), period_end=end.isoformat()
            )
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )


def ledger_rows(server, kind: str) -> list[tuple[str, str, str, int]]:
    with server.store.transaction() as session:
        rows = session.scalars(
            select(models.LedgerEntry).where(models.LedgerEntry.kind == kind)
        ).all()
        assert ledger.first_broken(session) is None
        return [(r.run_id, r.subject_id, r.counterpart_id, r.quantity) for r in rows]


def test_recall_releases_and_a_new_run_recontracts(server, registry, work):
    """The doctor is recalled: its posting and households are released with ledger entries,
    it is unavailable, a second recall is FAILED_PRECONDITION, and a new contracting run
    gives its households to the farmer."""
    a, _, _, cadres, contracts, stubs, matcher = work
    doctor, farmer = cadres
    released = sorted(h for h, c in contracts.items() if c == doctor.id)
    assert released
    office = stubs["office"]
    error = rpc_fails(
        lambda: office.RecallCadre(wpb.RecallCadreRequest(cadre_id=doctor.id, reason=" ")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["reason"]
    rpc_fails(
        lambda: stubs["other"].RecallCadre(
            wpb.RecallCadreRequest(cadre_id=doctor.id, reason="absent")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    request = wpb.RecallCadreRequest(cadre_id=doctor.id, reason="absent for months", request_id="x")
    recall = office.RecallCadre(request)
    assert office.RecallCadre(request).id == recall.id  # a retry replays
    assert recall.released_village_id == a.id
    assert sorted(recall.released_household_ids) == released
    assert ("absent for months", doctor.id) == (recall.reason, recall.cadre_id)
    rpc_fails(
        lambda: office.RecallCadre(wpb.RecallCadreRequest(cadre_id=doctor.id, reason="again")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    stored = registry.GetCadre(api.GetCadreRequest(id=doctor.id))
    assert not stored.available and not stored.current_village_id
    assert (recall.id, doctor.id, a.id, 0) in ledger_rows(server, "cadre_posting")
    contract_rows = ledger_rows(server, "household_contract")
    assert {(recall.id, h, doctor.id, 0) for h in released} <= set(contract_rows)
    with server.store.transaction() as session:
        left = {r.household_id for r in session.scalars(select(models.HouseholdContract))}
    assert not left & set(released)
    listed = stubs["auditor"].ListRecalls(wpb.ListRecallsRequest()).recalls
    assert [r.id for r in listed] == [recall.id]

    run = contract_region(matcher)
    now = {k.household_id: k.cadre_id for k in run.contracting.contracts}
    assert all(now[h] == farmer.id for h in released)
    with server.store.transaction() as session:
        stored_contracts = {
            r.household_id: r.cadre_id for r in session.scalars(select(models.HouseholdContract))
        }
    assert stored_contracts == now and set(now) == set(contracts)
