"""ReportService on a seeded multi-year history: every figure against the same report computed
in plain Python over the database's rows (tests/registry/reports/report_oracle.py), by county and by
village, on SQLite and PostgreSQL; the region against the key; bad requests named."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
from sqlalchemy import insert, update
from sqlmodel import col

from clients.auth import open_channel
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import report_service_pb2 as rpb
from fupin.registry.v1 import report_service_pb2_grpc as rpb_grpc
from fupin.registry.v1 import resources_pb2 as pb
from registry.access.policy import Role
from registry.cadrework.models import CadreVisit
from registry.ledger import chain
from registry.resources import models
from registry.season.models import HouseholdIncome
from tests import factories
from tests.registry.reports import report_oracle as oracle
from tests.rpcerrors import fields_of, rpc_fails

FIRST, LAST = 2021, 2026
# Instants on both sides of new year, where an off-by-one in a cutoff would show.
EDGES = [datetime(2022, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)]


@pytest.fixture
def reports(channel):
    return rpb_grpc.ReportServiceStub(channel)


@pytest.fixture
def seeded(server, registry):
    """Three villages in two counties, 24 households with four years of status history,
    income records, aid grants in three years (one of a programme deleted since), contracts,
    visits and postings: random, but the same every run."""
    rng = random.Random(16)
    villages = [
        factories.create_village(registry, admin_code=code, display_name=name)
        for code, name in (("350624001001", "岭下村"), ("350624001002", "东坑村"),
                           ("350625002001", "西山村"))
    ]  # fmt: skip
    households = []
    for i in range(24):
        members = rng.randint(1, 6)
        income = rng.choice([0, 350_000, 1_500_000, 5_000_000])
        households.append(
            factories.create_household(
                registry,
                villages[i % 3].id,
                members=members,
                labour_force=min(members, rng.randint(0, 2)),
                indicators=factories.indicators(income_per_capita_fen=income),
                causes=rng.sample([pb.ILLNESS, pb.EDUCATION, pb.LACK_OF_WATER], rng.randint(0, 2)),
            )
        )
    cadres = [registry.CreateCadre(api.CreateCadreRequest(cadre=factories.cadre())) for _ in "abc"]
    programmes = [
        registry.CreateAidProgram(api.CreateAidProgramRequest(aid_program=factories.aid_program()))
        for _ in "ab"
    ]
    with server.store.transaction(write=True) as session:
        session.execute(insert(models.StatusChange), _history(rng, households))
        session.execute(insert(HouseholdIncome), _incomes(rng, households))
        contracts = [
            {"household_id": h.id, "cadre_id": rng.choice(cadres).id, "run_id": "run-seed",
             "time": datetime.now(UTC)} for h in households if rng.random() < 0.5
        ]  # fmt: skip
        session.execute(insert(models.HouseholdContract), contracts)
        session.execute(insert(CadreVisit), _visits(rng, households, [c.id for c in cadres]))
        for cadre, village in zip(cadres[:2], (villages[0], villages[2]), strict=True):
            session.execute(
                update(models.Cadre)
                .where(col(models.Cadre.id) == cadre.id)
                .values(current_village_id=village.id)
            )
    for year in (2022, 2024, 2026):
        _grant(server, rng, year, households, [p.id for p in programmes] + ["aid-gone"])
    return villages, households


def _history(rng, households):
    rows = []
    for h in households:
        for _ in range(rng.randint(0, 4)):
            when = rng.choice(
                [*EDGES, datetime(FIRST, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 1800))]
            )
            rows.append(
                {"household_id": h.id, "time": when, "old_status": rng.randint(0, 4),
                 "new_status": rng.randint(1, 4), "score": 50, "reason": "seeded"}
            )  # fmt: skip
    return rows


def _visits(rng, households, cadres):
    """Visits by any cadre on days at the years' edges, around the overdue cutoff (30 days
    before today) and at random, to contracted households and others."""
    today = datetime.now(UTC).date()
    days = [date(2020, 12, 31), date(FIRST, 1, 1), date(2024, 12, 31), date(2025, 1, 1),
            date(2024, 12, 1), date(2024, 11, 30), today, *(today - timedelta(days=d)
            for d in (29, 30, 31, 45))]  # fmt: skip
    return [
        {"id": f"visit-{i}", "cadre_id": rng.choice(cadres), "household_id": h.id,
         "date": rng.choice([*days, date(FIRST, 1, 1) + timedelta(rng.randint(0, 2100))]
                            ).isoformat(), "done": "走访", "key_id": "key-seed",
         "create_time": datetime.now(UTC)}
        for i, h in enumerate(rng.choices(households, k=80))
        if rng.random() < 0.9
    ]  # fmt: skip


def _incomes(rng, households):
    return [
        {"household_id": h.id, "year": year, "produce_fen": rng.randint(0, 900_000),
         "dividends_fen": rng.randint(0, 50_000), "aid_fen": rng.randint(0, 200_000),
         "update_time": datetime.now(UTC)}
        for h in households
        for year in range(FIRST, LAST + 1)
        if rng.random() < 0.6
    ]  # fmt: skip


def _grant(server, rng, year, households, programmes):
    """Aid grants appended to the ledger as if committed in `year`."""
    entries = [
        chain.Entry(kind="aid_grant", run_id=f"run-{year}", subject_id=h.id,
                    counterpart_id=rng.choice(programmes), amount_fen=rng.randint(1, 9) * 10_007)
        for h in households
        if rng.random() < 0.4
    ]  # fmt: skip
    stamp = datetime(year, 6, 1, tzinfo=UTC)
    with pytest.MonkeyPatch.context() as patch, server.store.transaction(write=True) as session:
        patch.setattr(chain.models, "utcnow", lambda: stamp)
        chain.append(session, entries)


def request(area=rpb.BY_COUNTY, **kw):
    return rpb.ReportRequest(from_year=FIRST, to_year=LAST, area=area, **kw)


AREAS = [rpb.BY_COUNTY, rpb.BY_VILLAGE]


@pytest.mark.parametrize("area", AREAS)
def test_status_counts_at_each_year_end(reports, server, seeded, area):
    rows = oracle.read(server.store, by_village=area == rpb.BY_VILLAGE)
    got = reports.StatusReport(request(area)).rows
    for year in range(FIRST, LAST + 1):
        expected = oracle.status_at_year_end(rows, year)
        mine = {
            (r.area.area_code, r.area.area_name): {
                s: n
                for s, n in enumerate(
                    (r.impoverished, r.at_risk, r.lifted_out, r.returned_to_poverty), 1
                )
                if n
            }
            for r in got
            if r.year == year
        }
        assert mine == expected, year
    assert all(
        r.households == r.impoverished + r.at_risk + r.lifted_out + r.returned_to_poverty
        for r in got
    )
    assert [(r.year, r.area.area_code) for r in got] == sorted(
        (r.year, r.area.area_code) for r in got
    )


@pytest.mark.parametrize("area", AREAS)
def test_exits_returns_and_the_return_rate(reports, server, seeded, area):
    rows = oracle.read(server.store, by_village=area == rpb.BY_VILLAGE)
    got = reports.ExitReport(request(area)).rows
    assert any(r.returns for r in got) and any(r.exits for r in got)
    assert any(old == 0 and new == 3 for _, _, old, new, _ in rows.changes)  # filed lifted out
    for year in range(FIRST, LAST + 1):
        mine = {
            (r.area.area_code, r.area.area_name): (r.exits, r.returns, r.ever_lifted_out)
            for r in got
            if r.year == year
        }
        assert mine == oracle.exits(rows, year), year
    for r in got:
        expected = r.returns / r.ever_lifted_out if r.ever_lifted_out else 0.0
        assert r.return_rate == pytest.approx(expected)


@pytest.mark.parametrize("area", AREAS)
def test_income_of_poor_households_by_year(reports, server, seeded, area):
    rows = oracle.read(server.store, by_village=area == rpb.BY_VILLAGE)
    got = reports.IncomeReport(request(area)).rows
    per_capita = {}
    for year in range(FIRST, LAST + 1):
        mine = {
            (r.area.area_code, r.area.area_name): (
                r.poor_households, r.with_record, r.members, r.total_fen
            )
            for r in got
            if r.year == year
        }  # fmt: skip
        assert mine == oracle.incomes(rows, year), year
    for r in got:
        assert r.total_fen == r.produce_fen + r.dividends_fen + r.aid_fen
        assert r.per_capita_fen == (r.total_fen // r.members if r.members else 0)
        assert r.per_household_fen == (r.total_fen // r.with_record if r.with_record else 0)
        per_capita[(r.year, r.area.area_code)] = r.per_capita_fen
    for r in got:
        before = per_capita.get((r.year - 1, r.area.area_code), 0)
        if before:
            assert r.per_capita_growth == pytest.approx(r.per_capita_fen / before - 1)
        else:
            assert not r.HasField("per_capita_growth")
    assert any(r.HasField("per_capita_growth") for r in got)


def test_aid_by_programme_and_by_cause(reports, server, seeded):
    rows = oracle.read(server.store, by_village=False)
    got = reports.AidReport(request())
    assert got.total_fen == sum(g[3] for g in rows.grants) > 0
    for year in range(FIRST, LAST + 1):
        programmes, causes = oracle.aid(rows, year)
        mine = {
            p.programme_id: (p.amount_fen, p.grants, p.households)
            for p in got.programmes
            if p.year == year
        }
        assert mine == programmes, year
        by_cause = {
            c.cause: [c.amount_fen, c.grants, c.households] for c in got.causes if c.year == year
        }
        assert by_cause == causes, year
    names = {p.programme_id: p.programme_name for p in got.programmes}
    assert names["aid-gone"] == "" and all(names[k] for k in names if k != "aid-gone")


@pytest.mark.parametrize("area", AREAS)
def test_cadre_coverage(reports, server, seeded, area):
    rows = oracle.read(server.store, by_village=area == rpb.BY_VILLAGE)
    got = reports.CadreReport(request(area)).rows
    mine = {
        (r.area.area_code, r.area.area_name): (
            r.poor_households,
            r.contracted,
            r.cadres,
            r.stationed,
        )
        for r in got
    }
    assert mine == oracle.coverage(rows)
    for r in got:
        expected = r.contracted / r.poor_households if r.poor_households else 0.0
        assert r.coverage == pytest.approx(expected)


@pytest.mark.parametrize("years", [(FIRST, LAST), (2022, 2024)])
@pytest.mark.parametrize("area", AREAS)
def test_cadre_visits(reports, server, seeded, area, years):
    """Visits, households visited and not, per household and overdue, as of today or the
    last year's end (2024-12-31: a visit on 2024-12-01 is in time, 2024-11-30 overdue)."""
    first, last = years
    rows = oracle.read(server.store, by_village=area == rpb.BY_VILLAGE)
    got = reports.CadreReport(rpb.ReportRequest(from_year=first, to_year=last, area=area))
    as_of = min(datetime.now(UTC).date(), date(last, 12, 31))
    assert (got.as_of, got.overdue_days) == (as_of.isoformat(), 30)
    mine = {
        (r.area.area_code, r.area.area_name): (r.visits, r.visited, r.not_visited, r.overdue)
        for r in got.rows
        if r.poor_households
    }
    expected = oracle.visits(rows, first, last, as_of)
    assert mine == expected
    assert sum(v[0] for v in expected.values()) > sum(v[1] for v in expected.values()) > 0
    assert 0 < sum(v[3] for v in expected.values()) < sum(v[1] + v[2] for v in expected.values())
    for r in got.rows:
        assert r.visited + r.not_visited == r.contracted
        expected_per = r.visits / r.contracted if r.contracted else 0.0
        assert r.visits_per_household == pytest.approx(expected_per)


def test_an_office_reads_its_own_region(server, seeded):
    """Empty region_code: the key's scope; another county: PERMISSION_DENIED."""
    secret = server.keys.create(Role.OFFICE, "350625").secret
    with open_channel(f"127.0.0.1:{server.port}", api_key=secret) as channel:
        stub = rpb_grpc.ReportServiceStub(channel)
        got = stub.StatusReport(request(rpb.BY_VILLAGE)).rows
        assert {r.area.area_code for r in got} == {"350625002001"}
        rows = oracle.read(server.store, by_village=True, region="350625")
        assert {
            (r.area.area_code, r.area.area_name): r.households for r in got if r.year == LAST
        } == {a: sum(c.values()) for a, c in oracle.status_at_year_end(rows, LAST).items()}
        for method in ("StatusReport", "ExitReport", "IncomeReport", "AidReport", "CadreReport"):
            rpc_fails(
                lambda m=method: getattr(stub, m)(request(region_code="350624")),
                grpc.StatusCode.PERMISSION_DENIED,
            )


def test_an_auditor_sees_no_income_of_one_or_two_households(server, seeded):
    secret = server.keys.create(Role.AUDITOR, "").secret
    with open_channel(f"127.0.0.1:{server.port}", api_key=secret) as channel:
        got = rpb_grpc.ReportServiceStub(channel).IncomeReport(request(rpb.BY_VILLAGE)).rows
    small = [r for r in got if 0 < r.with_record < 3]
    assert small and all(r.total_fen == r.per_capita_fen == -1 for r in small)
    assert all(r.total_fen >= 0 for r in got if r.with_record >= 3)


def test_a_platform_may_not_read_reports(server, registry):
    buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    secret = server.keys.create(Role.PLATFORM, buyer.id).secret
    with open_channel(f"127.0.0.1:{server.port}", api_key=secret) as channel:
        rpc_fails(
            lambda: rpb_grpc.ReportServiceStub(channel).StatusReport(request()),
            grpc.StatusCode.PERMISSION_DENIED,
        )


def test_bad_requests_name_the_field(reports):
    cases = [
        (rpb.ReportRequest(region_code="35a"), ["region_code"]),
        (rpb.ReportRequest(from_year=1999, to_year=2020), ["from_year"]),
        (rpb.ReportRequest(from_year=2024, to_year=2023), ["from_year"]),
        (rpb.ReportRequest(from_year=2000, to_year=2030), ["from_year"]),
        (rpb.ReportRequest(to_year=2101), ["to_year"]),
        (rpb.ReportRequest(area=9), ["area"]),
    ]
    for bad, names in cases:
        error = rpc_fails(lambda b=bad: reports.StatusReport(b), grpc.StatusCode.INVALID_ARGUMENT)
        assert fields_of(error) == names, bad


def test_the_default_years_are_the_last_five(reports, server, seeded):
    this_year = datetime.now(UTC).year
    got = reports.StatusReport(rpb.ReportRequest()).rows
    assert {r.year for r in got} <= set(range(this_year - 4, this_year + 1))
    assert this_year in {r.year for r in got}
