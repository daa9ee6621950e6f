"""ListWatchlist ranked by risk: a shock lifts a household to the top, pages keep the order,
the ranking is the risk rule's over the same records, and bad orders and tokens are refused."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from sqlalchemy import event

from clients.auth import open_channel
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import year_service_pb2 as ypb
from fupin.registry.v1 import year_service_pb2_grpc as ypb_grpc
from registry.access.policy import Role
from registry.year.risk import HouseholdFacts, ShockFact, assess
from registry.year.rules import RiskRules
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails

# Scores whose households are watched (at risk or lifted out, within 5 of 60 or 80), each
# with a different margin to the line (60), and one far from both (not watched).
WATCHED = (61, 62, 63, 64, 65, 78, 79, 81, 82, 83, 84, 85)
SAFE = 95


def uniform(s: int):
    return factories.indicators(
        housing_safety=s, food_security=s, children_schooling=s, health=s, disability=s,
        income_per_capita_fen=800_000 * s // 100,
    )  # fmt: skip


@pytest.fixture
def filed(server, registry, channel):
    """A village of watched households (two of each score, the second with one cause fewer)
    and one safe household; a YearService stub with the admin key."""
    village = factories.create_village(registry)
    households = [
        factories.create_household(
            registry, village.id, members=100, labour_force=s, indicators=uniform(s), causes=causes
        )
        for s in WATCHED
        for causes in (factories.household("x").causes, factories.household("x").causes[:1])
    ]
    factories.create_household(
        registry, village.id, members=100, labour_force=SAFE, indicators=uniform(SAFE)
    )
    year = ypb_grpc.YearServiceStub(channel)  # the admin's, as registry
    return village, households, year


def walk(registry, size: int, **kw) -> list[api.WatchlistEntry]:
    """Every entry, page by page."""
    entries, token = [], ""
    while True:
        page = registry.ListWatchlist(
            api.ListWatchlistRequest(page_size=size, page_token=token, **kw)
        )
        assert len(page.entries) <= size
        entries += page.entries
        token = page.next_page_token
        if not token:
            return entries


def expected(households, shocks: dict[str, list[ShockFact]], line: int = 60):
    """(household id, risk, reasons) by the risk rule itself, highest first, then by id."""
    today = dt.datetime.now(dt.UTC).date()
    out = []
    for h in households:
        facts = HouseholdFacts(
            h.id, h.village_id, h.county_code, h.status, h.score,
            h.previous_score, list(h.causes),
        )  # fmt: skip
        found = assess(facts, shocks.get(h.id, []), line=line, rules=RiskRules(), today=today)
        out.append((h.id, found.risk, found.reasons))
    return sorted(out, key=lambda e: (-e[1], e[0]))


def test_pages_walk_the_ranked_list_once_in_order(filed, registry):
    """24 watched households by pages of 5: each once, by risk then id, as the rule ranks them
    computed here over the same records; order_by id pages them by id."""
    _village, households, _year = filed
    ranked = walk(registry, 5)
    got = [(e.household.id, e.risk, tuple(e.risk_reasons)) for e in ranked]
    assert got == expected(households, {})
    assert len({e[1] for e in got}) > 5  # the order is the risk's, not the ids'
    by_id = walk(registry, 5, order_by="id")
    assert [e.household.id for e in by_id] == sorted(h.id for h in households)
    assert {e.household.id: e.risk for e in by_id} == {e[0]: e[1] for e in got}


def test_a_shock_lifts_a_household_to_the_top(filed, registry, server):
    """An illness (severity 3) today on the lowest-ranked household within 30 of the top:
    +30 lifts it to the top, the shock named; an auditor reads the same risk with the shock's
    kind withheld."""
    _village, households, year = filed
    before = walk(registry, 100)
    lifted = [e for e in before if e.risk + 30 > before[0].risk]
    assert len(lifted) < len(before)  # not every household could be lifted so
    last = lifted[-1].household
    today = dt.datetime.now(dt.UTC).date()
    shock = ypb.Shock(
        household_id=last.id, kind=ypb.ILLNESS_SHOCK, severity=3, date=today.isoformat()
    )
    year.RecordShock(ypb.RecordShockRequest(shock=shock))
    entries = walk(registry, 7)
    top = entries[0]
    said = f"illness 疾病 on its household on {today.isoformat()} (severity 3)"
    assert top.household.id == last.id and said in top.risk_reasons
    on = {last.id: [ShockFact("s", ypb.ILLNESS_SHOCK, today, 3, "household")]}
    assert [(e.household.id, e.risk) for e in entries] == [
        (i, r) for i, r, _why in expected(households, on)
    ]
    auditor = server.keys.create(Role.AUDITOR, "").secret
    with open_channel(f"127.0.0.1:{server.port}", api_key=auditor) as channel:
        seen = api_grpc.RegistryServiceStub(channel).ListWatchlist(api.ListWatchlistRequest())
    first = seen.entries[0]
    assert first.household.id == last.id and first.risk == top.risk
    assert said not in first.risk_reasons
    assert f"shock on its household on {today.isoformat()} (severity 3)" in first.risk_reasons


def test_bad_orders_and_tokens_are_refused(filed, registry):
    """An undocumented order_by, a forged token, and a token of the other order: each
    INVALID_ARGUMENT naming the field."""
    for bad in ("score", "risk asc", "id desc", "risk desc, id"):
        error = rpc_fails(
            lambda bad=bad: registry.ListWatchlist(api.ListWatchlistRequest(order_by=bad)),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert fields_of(error) == ["order_by"]
    token = registry.ListWatchlist(api.ListWatchlistRequest(page_size=3)).next_page_token
    forged = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    by_id = registry.ListWatchlist(
        api.ListWatchlistRequest(page_size=3, order_by="id")
    ).next_page_token
    for request in (
        api.ListWatchlistRequest(page_token=forged),
        api.ListWatchlistRequest(page_token=by_id),
        api.ListWatchlistRequest(page_token=token, order_by="id"),
    ):
        error = rpc_fails(
            lambda request=request: registry.ListWatchlist(request),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert fields_of(error) == ["page_token"]
    assert registry.ListWatchlist(api.ListWatchlistRequest(order_by=" RISK   desc ")).entries


def test_the_ranking_reads_in_batches_not_per_household(filed, registry, server):
    """A ranked page costs the same statements for 24 watched households as for 48: shocks and
    incomes are read for all of them at once, never one query per household."""
    village, _households, _year = filed

    def statements() -> int:
        seen = []

        def count(_conn, _cursor, statement, *_args):
            if statement.startswith("SELECT"):  # the audit log is written on its own thread
                seen.append(statement)

        event.listen(server.store.engine, "before_cursor_execute", count)
        try:
            registry.ListWatchlist(api.ListWatchlistRequest(page_size=10))
        finally:
            event.remove(server.store.engine, "before_cursor_execute", count)
        return len(seen)

    before = statements()
    for s in WATCHED:
        factories.create_household(
            registry, village.id, members=100, labour_force=s, indicators=uniform(s)
        )
    assert len(walk(registry, 100)) == 2 * len(WATCHED) + len(WATCHED)
    assert statements() == before == 5  # watched, shocks, incomes, the page, its history
