"""Shocks, risk and alerts: the rule on hand-checked cases, then through a real YearService."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import grpc
import pytest
from sqlalchemy import insert

from clients.auth import open_channel
from fupin.registry.v1 import year_service_pb2 as ypb
from fupin.registry.v1 import year_service_pb2_grpc as ypb_grpc
from registry.access.policy import Role
from registry.season.models import HouseholdIncome
from registry.year.risk import HouseholdFacts, ShockFact, assess
from registry.year.rules import RiskRules
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails

TODAY = dt.date(2026, 7, 10)
AT_LINE = HouseholdFacts("hh-1", "vil-1", "350624", 2, 60, -1, ())


def test_a_household_at_the_line_carries_the_margin_weight():
    """Score 60 at a line of 60, no fall, no causes, no shock: 40 of 100."""
    assert assess(AT_LINE, [], line=60, rules=RiskRules(), today=TODAY).risk == 40


def test_a_severe_shock_adds_its_weight_and_fades():
    """A severity-3 flood on the village today adds 30; half a window later 15; after it 0."""
    rules = RiskRules()
    for age, expected in ((0, 70), (rules.shock_window_days // 2, 55), (400, 40)):
        flood = ShockFact("shk-1", 1, TODAY - dt.timedelta(days=age), 3, "village")
        found = assess(AT_LINE, [flood], line=60, rules=rules, today=TODAY)
        assert found.risk == expected
    flood = ShockFact("shk-1", 1, TODAY, 3, "village")
    reasons = assess(AT_LINE, [flood], line=60, rules=rules, today=TODAY).reasons
    assert reasons == (
        "score 60 is at the line 60",
        "disaster 灾害 on its village on 2026-07-10 (severity 3)",
    )


def test_a_fall_and_causes_count():
    """20 points fallen (trend 1) and 3 causes (causes 1), 20 above the line (margin 0)."""
    facts = HouseholdFacts("hh-1", "vil-1", "350624", 3, 80, 100, (1, 2, 3))
    found = assess(facts, [], line=60, rules=RiskRules(), today=TODAY)
    assert found.risk == 30
    assert found.reasons == ("score fell 20 since the previous assessment", "3 causes of poverty")


def test_an_income_fall_counts_as_the_trend():
    """Income 1,000,000 fen in 2024, 850,000 in 2025: a 15% fall, half of the 30% that makes
    the trend term 1: at the line, 40 + 20 × 0.5 = 50. A rise, or no record, adds nothing; a
    score fall of 20 (trend 1) outweighs the income's."""
    fell = replace(AT_LINE, income_before=1_000_000, income_after=850_000, income_year=2025)
    found = assess(fell, [], line=60, rules=RiskRules(), today=TODAY)
    assert found.risk == 50
    assert found.reasons == ("score 60 is at the line 60", "income 2025 was 15% below 2024")
    rose = replace(fell, income_after=1_200_000)
    assert assess(rose, [], line=60, rules=RiskRules(), today=TODAY).risk == 40
    unknown = replace(fell, income_before=-1)
    assert assess(unknown, [], line=60, rules=RiskRules(), today=TODAY).risk == 40
    both = replace(fell, score=60, previous_score=80)
    assert assess(both, [], line=60, rules=RiskRules(), today=TODAY).risk == 60


@pytest.fixture
def county(server, registry, admin_key):
    flooded = factories.create_village(registry)
    dry = factories.create_village(registry)
    households = {
        v.id: [factories.create_household(registry, v.id) for _ in range(3)] for v in (flooded, dry)
    }
    keys = {
        "county": server.keys.create(Role.OFFICE, flooded.admin_code[:6]).secret,
        "other": server.keys.create(Role.OFFICE, dry.admin_code).secret,
        "auditor": server.keys.create(Role.AUDITOR, "").secret,
    }
    channels = {k: open_channel(f"127.0.0.1:{server.port}", api_key=s) for k, s in keys.items()}
    stubs = {k: ypb_grpc.YearServiceStub(c) for k, c in channels.items()}
    yield flooded, dry, households, stubs
    for channel in channels.values():
        channel.close()


def flood(village_id: str, **kw) -> ypb.RecordShockRequest:
    fields = dict(
        village_id=village_id, kind=ypb.DISASTER, severity=3, date=dt.date.today().isoformat()
    )
    fields.update(kw)
    return ypb.RecordShockRequest(shock=ypb.Shock(**fields))


def test_a_flood_raises_its_village_on_the_ranking_and_streams_alerts(county):
    """Before: every household 47 (score 53, two causes). The flood lifts the village's three
    to 77, first on ListRisks with the flood named; an office's WatchAlerts gets each."""
    flooded, dry, households, stubs = county
    before = stubs["county"].ListRisks(ypb.ListRisksRequest()).entries
    assert {e.risk for e in before} == {47} and len(before) == 6
    alerts = stubs["county"].WatchAlerts(ypb.WatchAlertsRequest(), timeout=60)
    alerts.initial_metadata()  # subscribed
    shock = stubs["county"].RecordShock(flood(flooded.id))
    assert shock.id and shock.alerts == 3
    after = stubs["county"].ListRisks(ypb.ListRisksRequest(limit=3)).entries
    flooded_ids = {h.id for h in households[flooded.id]}
    assert {e.household_id for e in after} == flooded_ids and {e.risk for e in after} == {77}
    assert any("disaster" in r for r in after[0].reasons)
    got = {next(alerts).entry.household_id for _ in range(3)}
    alerts.cancel()
    assert got == flooded_ids
    other = stubs["other"].ListRisks(ypb.ListRisksRequest()).entries
    assert {e.household_id for e in other} == {h.id for h in households[dry.id]}


def test_a_household_whose_income_fell_rises_on_the_ranking(server, county):
    """Income records of the two last years, down by half for one household: its trend term
    is full (47 + 20 = 67), first on ListRisks with the fall named; the others stay at 47."""
    flooded, _dry, households, stubs = county
    fell = households[flooded.id][0].id
    last = dt.datetime.now(dt.UTC).year - 1
    with server.store.transaction(write=True) as session:
        session.execute(
            insert(HouseholdIncome),
            [{"household_id": h.id, "year": year, "produce_fen": fen, "dividends_fen": 0,
              "aid_fen": 0, "update_time": dt.datetime.now(dt.UTC)}
             for h in households[flooded.id]
             for year, fen in ((last - 1, 800_000), (last, 400_000 if h.id == fell else 900_000))],
        )  # fmt: skip
    entries = stubs["county"].ListRisks(ypb.ListRisksRequest()).entries
    assert (entries[0].household_id, entries[0].risk) == (fell, 67)
    assert f"income {last} was 50% below {last - 1}" in entries[0].reasons
    assert {e.risk for e in entries[1:]} == {47}


def test_a_shock_on_a_household_and_one_on_its_county(county):
    """A job loss (severity 2) on one household: 47 + 30 × 2/3 = 67 for it alone; then an
    epidemic (severity 1) on the county: every household of both villages + 10 (57), and the
    household with both shocks 47 + 30 = 77, each shock named where it fell."""
    flooded, dry, households, stubs = county
    today = dt.date.today().isoformat()
    lost = households[dry.id][0].id
    shock = ypb.Shock(household_id=lost, kind=ypb.JOB_LOSS, severity=2, date=today)
    assert stubs["county"].RecordShock(ypb.RecordShockRequest(shock=shock)).alerts == 1
    risks = {e.household_id: e for e in stubs["county"].ListRisks(ypb.ListRisksRequest()).entries}
    assert {h: e.risk for h, e in risks.items() if e.risk != 47} == {lost: 67}
    assert f"job loss 失业 on its household on {today} (severity 2)" in risks[lost].reasons
    county_code = flooded.admin_code[:6]
    epidemic = ypb.Shock(county_code=county_code, kind=ypb.EPIDEMIC, severity=1, date=today)
    stubs["county"].RecordShock(ypb.RecordShockRequest(shock=epidemic))
    risks = {e.household_id: e for e in stubs["county"].ListRisks(ypb.ListRisksRequest()).entries}
    everyone = {h.id for v in (flooded, dry) for h in households[v.id]}
    assert {h: e.risk for h, e in risks.items()} == {h: 77 if h == lost else 57 for h in everyone}
    assert all(any("epidemic 疫情 on its county" in r for r in e.reasons) for e in risks.values())
    refused = ypb.Shock(county_code=county_code, kind=ypb.EPIDEMIC, severity=1, date=today)
    rpc_fails(
        lambda: stubs["other"].RecordShock(ypb.RecordShockRequest(shock=refused)),
        grpc.StatusCode.NOT_FOUND,
    )


def test_who_may_record_and_what_is_refused(county):
    flooded, _dry, _households, stubs = county
    rpc_fails(
        lambda: stubs["auditor"].RecordShock(flood(flooded.id)), grpc.StatusCode.PERMISSION_DENIED
    )
    rpc_fails(lambda: stubs["other"].RecordShock(flood(flooded.id)), grpc.StatusCode.NOT_FOUND)
    both = flood(flooded.id, county_code=flooded.admin_code[:6], severity=4, date="2026-02-30")
    error = rpc_fails(lambda: stubs["county"].RecordShock(both), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == ["shock", "shock.severity", "shock.date"]
    rpc_fails(
        lambda: stubs["other"].ListRisks(ypb.ListRisksRequest(region_code=flooded.admin_code[:6])),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert {e.risk for e in stubs["county"].ListRisks(ypb.ListRisksRequest()).entries} == {47}
