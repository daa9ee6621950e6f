"""Aid and cadre runs through a matcher process apart from the registry, on PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from bench.registry import database
from bench.topology import Topology
from clients.auth import open_channel
from clients.cli import main
from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import resources_pb2 as pb
from matcher.service import convert_produce as convert
from matcher.solvers import produce
from matcher.solvers.common.solving import Objective, SolveParams
from registry.resources.scoring import ScoringConfig
from registry.resources.store import RegistryStore
from registry.runs import supply
from tests import factories
from tests.aidfixtures import poor_households, programme, selection_request
from tests.conftest import POSTGRES_ADMIN_URL
from tests.matcher.service.test_cadre_commits import (
    ONE_EACH,
    PARAMS,
    A,
    B,
    cheapest_postings,
    create_cadre,
)

# One topology for both tests (one xdist worker); the cadre runs use their own county so that
# the aid test's village is not in their selection.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("split_runs")]
COUNTY = factories.PUNING


@dataclass
class Split:
    registry: api_grpc.RegistryServiceStub
    matcher: mpb_grpc.MatcherServiceStub
    engine: Engine
    addresses: tuple[str, str]  # (registry, matcher) HOST:PORT
    access: apb_grpc.AccessServiceStub

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(text(sql), params))


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Split]:
    """`fupin serve --only registry` and `--only matcher` on loopback over a fresh PostgreSQL
    database, with stubs carrying the registry's admin key."""
    workdir = tmp_path_factory.mktemp("split-runs")
    with database("postgres", POSTGRES_ADMIN_URL) as url, Topology(url, workdir) as topology:
        key = topology.key_file.read_text().strip()
        engine = create_engine(url)
        with (
            open_channel(topology.registry.address, api_key=key) as registry,
            open_channel(topology.matcher.address, api_key=key) as matcher,
        ):
            yield Split(
                api_grpc.RegistryServiceStub(registry),
                mpb_grpc.MatcherServiceStub(matcher),
                engine,
                (topology.registry.address, topology.matcher.address),
                apb_grpc.AccessServiceStub(registry),
            )
        engine.dispose()
        assert topology.matcher.stop() == 0 and topology.registry.stop() == 0


def test_aid_run_commits_through_the_split_matcher(split):
    """AllocateAid on a selection grants the budget to the neediest pair (checked over every
    pair), CommitMatchRun writes a ledger entry per grant and the programme's spending; a
    retried commit writes nothing twice."""
    households = poor_households(split.registry, 3)
    medical = programme(split.registry, budget_fen=400_000, amount_fen=200_000)
    village = split.registry.GetVillage(api.GetVillageRequest(id=households[0].village_id))
    request = selection_request([medical.id])
    request.selection.region_code = village.admin_code
    run = split.matcher.AllocateAid(request, timeout=120)
    assert (run.kind, run.state, run.status) == (mpb.AID, mpb.PROPOSED, mpb.OPTIMAL)
    # The caller's key, recorded by the registry from the matcher's internal CreateRun.
    assert run.owner_key_id and split.rows(
        "SELECT owner_key_id FROM match_run WHERE id = :run", run=run.id
    ) == [(run.owner_key_id,)]

    def need(ids):  # medical aid for ill households: 100 - score, +10 for the cause
        score = {h.id: h.score for h in households}
        return sum(100 - score[i] + 10 for i in ids)

    granted = {g.household_id for g in run.aid.grants}
    assert len(granted) == 2
    pairs = itertools.combinations([h.id for h in households], 2)
    assert need(granted) == max(need(pair) for pair in pairs)

    commit = mpb.CommitMatchRunRequest(id=run.id, request_id=f"commit-{run.id}")
    assert split.matcher.CommitMatchRun(commit, timeout=60).state == mpb.COMMITTED
    assert split.matcher.CommitMatchRun(commit, timeout=60).state == mpb.COMMITTED
    entries = split.rows(
        "SELECT subject_id, counterpart_id, amount_fen FROM ledger_entry "
        "WHERE kind = 'aid_grant' AND run_id = :run",
        run=run.id,
    )
    assert entries == sorted((h, medical.id, 200_000) for h in granted)
    assert split.rows("SELECT spent_fen FROM aid_program WHERE id = :p", p=medical.id) == [
        (400_000,)
    ]
    assert split.rows("SELECT state FROM match_run WHERE id = :run", run=run.id) == [(4,)]


def test_the_split_matchers_aid_run_is_audited_by_the_registry(split):
    """The matcher apart from the registry has no audit log: its AllocateAid and GetMatchRun
    answers, which name the granted households, leave their events in the registry's log
    (MatcherStoreService.RecordAudit), under the caller's key (none did before)."""
    households = poor_households(split.registry, 2)
    village = split.registry.GetVillage(api.GetVillageRequest(id=households[0].village_id))
    medical = programme(split.registry, budget_fen=200_000, amount_fen=200_000)
    request = selection_request([medical.id])
    request.selection.region_code = village.admin_code
    run = split.matcher.AllocateAid(request, timeout=120)
    granted = {g.household_id for g in run.aid.grants}
    assert len(granted) == 1
    split.matcher.GetMatchRun(mpb.GetMatchRunRequest(id=run.id), timeout=30)

    def events(method: str) -> list[apb.AuditEvent]:
        where = f'rpc = "/fupin.matcher.v1.MatcherService/{method}"'
        listed = split.access.ListAuditEvents(apb.ListAuditEventsRequest(filter=where))
        return [e for e in listed.events if granted <= set(e.household_ids)]

    for method in ("AllocateAid", "GetMatchRun"):
        (event,) = events(method)
        assert (event.key_id, event.role) == (run.owner_key_id, apb.ADMIN)
        assert list(event.county_codes) == [village.admin_code[:6]]


def test_cadre_runs_commit_through_the_split_matcher(split):
    """AssignCadres on a selection posts the cheapest assignment (brute force) and
    CommitMatchRun moves the cadres with a ledger entry each; ContractHouseholds then gives
    each poor household the cadre stationed in its village, stored with its ledger entries."""
    villages = [
        factories.create_village(
            split.registry, admin_code=f"{COUNTY}{i:03d}001", location=where, needs=[]
        )
        for i, where in enumerate((A, B), start=1)
    ]
    households = [
        factories.create_household(split.registry, v.id, causes=[cause])
        for v, cause in zip(villages, (pb.ILLNESS, pb.LACK_OF_TECHNOLOGY), strict=True)
    ]
    cadres = [
        create_cadre(split.registry, "doctor", 23.70, 117.20, skills=["health"]),
        create_cadre(split.registry, "farmer", 23.86, 117.38, skills=["agronomy"]),
        create_cadre(split.registry, "clerk", 23.78, 117.30, skills=["finance"]),
    ]
    assign = mpb.AssignCadresRequest(
        selection=cpb.CadreSelection(region_code=COUNTY), rules=ONE_EACH, parameters=PARAMS
    )
    run = split.matcher.AssignCadres(assign, timeout=120)
    _, expected = cheapest_postings(villages, cadres)
    assert {p.cadre_id: p.village_id for p in run.stationing.postings} == expected
    commit = mpb.CommitMatchRunRequest(id=run.id, request_id=f"commit-{run.id}")
    assert split.matcher.CommitMatchRun(commit, timeout=60).state == mpb.COMMITTED
    assert split.matcher.CommitMatchRun(commit, timeout=60).state == mpb.COMMITTED
    posted = split.rows("SELECT id, current_village_id FROM cadre WHERE id = ANY(:ids)",
                        ids=list(expected))  # fmt: skip
    assert posted == sorted(expected.items())
    entries = split.rows(
        "SELECT subject_id, counterpart_id, quantity FROM ledger_entry "
        "WHERE kind = 'cadre_posting' AND run_id = :run",
        run=run.id,
    )
    assert entries == sorted((c, v, 1) for c, v in expected.items())

    contract = mpb.ContractHouseholdsRequest(
        selection=cpb.ContractingSelection(region_code=COUNTY), parameters=PARAMS
    )
    run = split.matcher.ContractHouseholds(contract, timeout=120)
    stationed = {v: c for c, v in expected.items()}
    wanted = sorted((h.id, stationed[h.village_id]) for h in households)
    assert sorted((k.household_id, k.cadre_id) for k in run.contracting.contracts) == wanted
    commit = mpb.CommitMatchRunRequest(id=run.id)
    assert split.matcher.CommitMatchRun(commit, timeout=60).state == mpb.COMMITTED
    stored = split.rows(
        "SELECT household_id, cadre_id FROM household_contract WHERE run_id = :run", run=run.id
    )
    assert stored == wanted
    entries = split.rows(
        "SELECT subject_id, counterpart_id FROM ledger_entry "
        "WHERE kind = 'household_contract' AND run_id = :run",
        run=run.id,
    )
    assert entries == wanted


def test_cadre_cli_reads_the_registry_given_apart(split, tmp_path, capsys):
    """`fupin cadres assign --target MATCHER --registry REGISTRY --picture` draws the postings
    from the registry's cadres and villages, and `cadres contract` prints its tables from the
    registry's households (a matcher alone serves no RegistryService)."""
    region = "445222"  # Jiexi: neither earlier test's county
    village = factories.create_village(
        split.registry, admin_code=f"{region}001001", location=A, needs=[]
    )
    household = factories.create_household(split.registry, village.id, causes=[pb.ILLNESS])
    cadre = create_cadre(split.registry, "vet", A.latitude, A.longitude, skills=["health"])
    registry, matcher = split.addresses
    where = ["--region", region, "--target", matcher, "--registry", registry]
    picture = tmp_path / "postings.png"
    one_each = ["--team-min", "1", "--team-max", "1"]
    code = main(["cadres", "assign", *one_each, "--picture", str(picture), "--commit", *where])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"village {village.id}" in out and cadre.id in out
    assert picture.read_bytes()[:4] == b"\x89PNG"
    code = main(["cadres", "contract", *where])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"village {village.id}" in out and household.id in out


def test_produce_run_on_a_selection_through_the_split_matcher(split):
    """MatchProduce on a registry selection through the split matcher (the listings streamed
    to it as columns) solves the problem of the records read from the database directly: the
    same objective and kilograms; each allocation names its listing's producer and its order's
    buyer. A household's point off the grid and a cooperative's shares are in it."""
    product = f"plum_{uuid.uuid4().hex[:8]}"
    village = factories.create_village(split.registry, admin_code=f"{COUNTY}101001")
    hh = [factories.create_household(split.registry, village.id) for _ in range(2)]
    at = pb.LatLng(latitude=23.72349, longitude=117.17661)
    producers = [
        factories.producer_for(hh[0].id, location=at),
        factories.cooperative(village.id, {hh[0].id: 700, hh[1].id: 300}, location=at),
        pb.Producer(kind=pb.PRODUCER_ENTERPRISE, display_name="Orchard", location=at),
    ]
    for producer, floor in zip(producers, (120, 150, 90), strict=True):
        made = split.registry.CreateProducer(api.CreateProducerRequest(producer=producer))
        split.registry.CreateListing(
            api.CreateListingRequest(
                listing=factories.listing(
                    made.id, product=product, quantity_kg=1000, floor_price_fen=floor
                )
            )
        )
    buyer = split.registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    for kg, price in ((1200, 260), (900, 240)):
        split.registry.CreateOrder(
            api.CreateOrderRequest(
                order=factories.order(
                    buyer.id, product=product, max_quantity_kg=kg, price_fen=price
                )
            )
        )
    selection = mpb.RegistrySelection(product=product, today="2020-05-10")
    params = mpb.SolveParameters(objective=mpb.POVERTY_FIRST, time_limit_s=30)
    run = split.matcher.MatchProduce(
        mpb.MatchProduceRequest(selection=selection, parameters=params), timeout=120
    )
    assert (run.state, run.status) == (mpb.PROPOSED, mpb.OPTIMAL)

    store = RegistryStore(split.engine, ScoringConfig.load())
    listings = supply.open_listings(store, product=product, today=selection.today)
    orders = supply.open_orders(store, product=product, today=selection.today)
    assert any(x.shares and len(x.shares) == 2 for x in listings)
    goal = Objective.POVERTY_FIRST
    problem = convert.registry_problem(selection, listings, orders, goal)
    expected = produce.solve(problem, SolveParams(time_limit_s=30))
    assert run.objective == expected.objective
    assert sum(a.kg for a in run.produce.allocations) == int(expected.allocation_columns.kg.sum())
    producer_of = {x.id: x.producer_id for x in listings}
    assert run.produce.allocations and all(
        (a.producer_id, a.buyer_id) == (producer_of[a.listing_id], buyer.id)
        for a in run.produce.allocations
    )
