"""Aid and cadre runs through RegistrySource over gRPC answer exactly as in process."""

from __future__ import annotations

import pytest
from sqlmodel import select

from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from matcher.service.source import Allocation, CadreItem, GrantRecord, RunState
from registry import errors
from registry.access.policy import Principal, Role
from registry.ledger import chain as ledger
from registry.resources import models
from registry.runs import cadres as cadre_runs
from registry.runs.aid import AID_KIND
from registry.runs.cadres import CONTRACTING_KIND, STATIONING_KIND
from server import grpc_source
from server.sources import InProcessSource
from tests import factories
from tests.aidfixtures import poor_households, programme

FIELD = "selection.programme_ids"


@pytest.fixture
def sources(server, registry):
    """(over gRPC, in process) over the same server."""
    remote, handle = grpc_source.connect(f"127.0.0.1:{server.port}", timeout_s=30)
    yield remote, InProcessSource(server.store)
    handle.close()


def new_run(source, run_id, kind):
    run, created = source.create_run(
        run_id=run_id, kind=kind, parameters=b"", owner="me", request_id="", fingerprint=""
    )
    assert created
    return run


def etag(run):
    return f'"{run.version}"'


def ledger_rows(server, kind):
    with server.store.transaction() as session:
        assert ledger.first_broken(session) is None
        rows = session.scalars(select(models.LedgerEntry).where(models.LedgerEntry.kind == kind))
        return sorted(
            (r.run_id, r.subject_id, r.counterpart_id, r.amount_fen, r.quantity) for r in rows
        )


def stored_rows(server, table):
    with server.store.transaction() as session:
        rows = session.scalars(select(table)).all()
        return sorted(tuple(sorted(r.model_dump().items())) for r in rows)


def test_aid_run_round_trip(sources, server, registry):
    """aid_inputs (households with their causes, ranged and fixed programmes, the pairs the
    ledger holds) agree with the in-process source before and after a commit; grants stored
    and committed over gRPC are what the database holds; a retried commit applies nothing."""
    remote, local = sources
    households = poor_households(registry, 3)
    village = factories.create_village(registry)
    mixed = factories.create_household(
        registry, village.id, causes=[pb.ILLNESS, pb.EDUCATION, pb.LACK_OF_CAPITAL]
    )
    medical = programme(registry, budget_fen=1_000_000, amount_fen=200_000)
    school = programme(
        registry,
        kind=pb.EDUCATION_GRANT,
        amount_fen=300_000,
        min_amount_fen=100_000,
        step_fen=50_000,
        causes=[pb.EDUCATION],
        eligible_statuses=[pb.IMPOVERISHED],
    )
    ids = [medical.id, school.id]
    before = remote.aid_inputs(region_code=factories.ZHAOAN, programme_ids=ids, field=FIELD)
    assert before == local.aid_inputs(region_code=factories.ZHAOAN, programme_ids=ids, field=FIELD)
    assert {h.id for h in before.households} == {h.id for h in households} | {mixed.id}
    assert next(h for h in before.households if h.id == mixed.id).causes == (
        pb.ILLNESS, pb.EDUCATION, pb.LACK_OF_CAPITAL,
    )  # fmt: skip
    assert before.programmes[1].eligible_statuses == (pb.IMPOVERISHED,)
    assert before.programmes[1].step_fen == 50_000 and before.held == []

    new_run(remote, "aid-w1", AID_KIND)
    grants = [
        GrantRecord(households[0].id, medical.id, 200_000),
        GrantRecord(mixed.id, medical.id, 200_000),
        GrantRecord(mixed.id, school.id, 150_000),
    ]
    assert remote.store_grants("aid-w1", grants) is None
    assert stored_rows(server, models.RunGrant) == sorted(
        tuple(sorted({"run_id": "aid-w1", **g.__dict__}.items())) for g in grants
    )
    proposed = remote.update_run("aid-w1", state=RunState.PROPOSED)
    committed = remote.commit_aid("aid-w1", request_id="c-aid", etag=etag(proposed))
    assert committed.state == RunState.COMMITTED and committed == local.get_run("aid-w1")
    assert remote.commit_aid("aid-w1", request_id="c-aid", etag=etag(proposed)) == committed
    assert ledger_rows(server, "aid_grant") == sorted(
        ("aid-w1", g.household_id, g.programme_id, g.amount_fen, 0) for g in grants
    )

    after = remote.aid_inputs(region_code="", programme_ids=ids, field=FIELD)
    assert after == local.aid_inputs(region_code="", programme_ids=ids, field=FIELD)
    assert sorted(after.held) == sorted((g.household_id, g.programme_id) for g in grants)
    assert all(isinstance(pair, tuple) for pair in after.held)
    assert [p.spent_fen for p in after.programmes] == [400_000, 150_000]


def test_aid_errors_come_back_as_the_registrys(sources, registry):
    """A missing programme is NOT_FOUND naming its index; a grant the ledger already holds is
    ABORTED naming the household; committing a run of another kind is FAILED_PRECONDITION."""
    remote, _ = sources
    [household] = poor_households(registry, 1)
    medical = programme(registry)
    with pytest.raises(errors.NotFound) as missing:
        remote.aid_inputs(region_code="", programme_ids=[medical.id, "aid-nope"], field=FIELD)
    assert missing.value.field == f"{FIELD}[1]"
    for run_id in ("aid-a", "aid-b"):
        new_run(remote, run_id, AID_KIND)
        remote.store_grants(run_id, [GrantRecord(household.id, medical.id, 200_000)])
        remote.update_run(run_id, state=RunState.PROPOSED)
    remote.commit_aid("aid-a", request_id="", etag="")
    with pytest.raises(errors.Aborted) as rival:
        remote.commit_aid("aid-b", request_id="", etag="")
    assert [v.field for v in rival.value.violations] == [f"households[{household.id}]"]
    new_run(remote, "produce-1", 1)
    with pytest.raises(errors.FailedPrecondition):
        remote.commit_aid("produce-1", request_id="", etag="")


@pytest.fixture
def county(registry):
    """Two poor villages (one with no poor household; one household without causes), and three
    cadres: one unposted, one posted and pinned, one posted."""
    a = factories.create_village(registry, needs=["ecommerce", "health"])
    b = factories.create_village(registry, needs=[])
    factories.create_household(registry, a.id, causes=[pb.ILLNESS, pb.EDUCATION])
    factories.create_household(registry, a.id, causes=[pb.LACK_OF_TECHNOLOGY])
    factories.create_household(registry, a.id, causes=[])
    cadres = [
        registry.CreateCadre(api.CreateCadreRequest(cadre=factories.cadre(**kw)))
        for kw in (
            {"skills": ["health", "finance"]},
            {"current_village_id": a.id, "pinned": True},
            {"current_village_id": b.id, "rank": pb.DIVISION_CHIEF},
        )
    ]
    return a, b, cadres


def test_cadre_reads_match_in_process(sources, county):
    """Stationing data (causes per poor household, a list in a list; unposted cadres as None)
    and contracting data (cadres at their postings) agree with the in-process source."""
    remote, local = sources
    a, b, cadres = county
    for region in (factories.ZHAOAN, ""):
        stationing = remote.stationing_data(region_code=region)
        assert stationing == local.stationing_data(region_code=region)
        contracting = remote.contracting_data(region_code=region)
        assert contracting == local.contracting_data(region_code=region)
    villages = {v.id: v for v in stationing.villages}
    assert sorted(villages[a.id].household_causes) == sorted(
        [(pb.ILLNESS, pb.EDUCATION), (pb.LACK_OF_TECHNOLOGY,), ()]
    )
    assert villages[b.id].household_causes == () and villages[a.id].needs == ("ecommerce", "health")
    rows = {c.id: c for c in stationing.cadres}
    assert rows[cadres[0].id].current_village_id is None
    assert rows[cadres[1].id].current_village_id == a.id and rows[cadres[1].id].pinned
    assert rows[cadres[0].id].skills == ("health", "finance")
    located = {c.id: (c.latitude, c.longitude) for c in contracting.cadres}
    assert located[cadres[2].id] == (b.location.latitude, b.location.longitude)
    assert {h.causes for h in contracting.households} == {2, 1, 0}


def test_cadre_runs_round_trip(sources, server, county):
    """finish_cadre_run stores the fields and items sent over gRPC; commit_cadres posts and
    contracts as in process, once per request_id; a run over stale versions is ABORTED."""
    remote, local = sources
    a, b, cadres = county
    version = {c.id: c.version for c in remote.stationing_data(region_code="").cadres}
    free, pinned, posted = (c.id for c in cadres)
    new_run(remote, "st-1", STATIONING_KIND)
    items = [CadreItem(free, version[free], village_id=b.id), CadreItem(posted, version[posted])]
    finished = remote.finish_cadre_run(
        "st-1", items=items, state=RunState.PROPOSED, status=1, objective=42, gap=0.0,
        best_bound=42.0, result=b"\x08\x01", total_s=0.5,
    )  # fmt: skip
    assert finished == local.get_run("st-1")
    assert (finished.state, finished.objective, finished.result) == (3, 42, b"\x08\x01")
    assert stored_rows(server, models.RunCadreItem) == sorted(
        tuple(sorted({"run_id": "st-1", **i.__dict__}.items())) for i in items
    )
    committed = remote.commit_cadres("st-1", request_id="c-st", etag=etag(finished))
    assert committed == local.get_run("st-1") and committed.state == RunState.COMMITTED
    assert remote.commit_cadres("st-1", request_id="c-st", etag=etag(finished)) == committed
    now = {c.id: c for c in local.stationing_data(region_code="").cadres}
    assert (now[free].current_village_id, now[posted].current_village_id) == (b.id, None)
    assert now[pinned].current_village_id == a.id
    assert ledger_rows(server, "cadre_posting") == sorted(
        [("st-1", free, b.id, 0, 1), ("st-1", posted, "", 0, 0)]
    )

    households = [h.id for h in local.contracting_data(region_code="").households]
    new_run(remote, "ct-1", CONTRACTING_KIND)
    stale = [CadreItem(free, version[free], household_id=h) for h in households]
    remote.finish_cadre_run("ct-1", items=stale, state=RunState.PROPOSED)
    with pytest.raises(errors.Aborted) as moved:
        remote.commit_cadres("ct-1", request_id="", etag="")
    assert [v.field for v in moved.value.violations] == [f"cadres[{free}]"]
    new_run(remote, "ct-2", CONTRACTING_KIND)
    fresh = [CadreItem(free, now[free].version, household_id=h) for h in households]
    remote.finish_cadre_run("ct-2", items=fresh, state=RunState.PROPOSED)
    assert remote.commit_cadres("ct-2", request_id="", etag="").state == RunState.COMMITTED
    assert cadre_runs.contracts(server.store) == dict.fromkeys(households, free)


def test_storing_a_runs_grants_twice_stores_them_once(sources, server, registry):
    """A retried store_grants (its first reply lost) leaves each grant once, the run ends and
    commits as after one store, and once the run has ended its grants are fixed."""
    remote, local = sources
    households = poor_households(registry, 2)
    medical = programme(registry, budget_fen=1_000_000, amount_fen=200_000)
    grants = [GrantRecord(h.id, medical.id, 200_000) for h in households]
    new_run(remote, "aid-twice", AID_KIND)
    remote.store_grants("aid-twice", grants)
    remote.store_grants("aid-twice", grants)
    assert stored_rows(server, models.RunGrant) == sorted(
        tuple(sorted({"run_id": "aid-twice", **g.__dict__}.items())) for g in grants
    )
    proposed = remote.update_run("aid-twice", state=RunState.PROPOSED)
    with pytest.raises(errors.FailedPrecondition):
        remote.store_grants("aid-twice", grants[:1])
    assert remote.commit_aid("aid-twice", request_id="", etag=etag(proposed)).state == (
        RunState.COMMITTED
    )
    assert ledger_rows(server, "aid_grant") == sorted(
        ("aid-twice", g.household_id, g.programme_id, g.amount_fen, 0) for g in grants
    )
    [spent] = local.aid_inputs(region_code="", programme_ids=[medical.id], field=FIELD).programmes
    assert spent.spent_fen == 400_000


def test_ending_a_produce_run_twice_ends_it_once(sources, server):
    """A retried update_run that ends a run returns it unchanged with each allocation once;
    one arriving after the commit does not reopen the run."""
    remote, local = sources
    new_run(remote, "pr-twice", 1)
    allocations = [Allocation("lst-1", "ord-1", 5), Allocation("lst-2", "ord-1", 3)]
    fields = {"state": RunState.PROPOSED, "objective": 9, "total_s": 0.1}
    first = remote.update_run("pr-twice", allocations=allocations, **fields)
    assert remote.update_run("pr-twice", allocations=allocations, **fields) == first
    assert len(stored_rows(server, models.RunAllocation)) == 2
    remote.discard_run("pr-twice", etag=etag(first))
    assert remote.update_run("pr-twice", allocations=allocations, **fields).state == (
        RunState.DISCARDED
    )
    assert local.get_run("pr-twice").state == RunState.DISCARDED


def test_finishing_a_cadre_run_twice_finishes_it_once(sources, server, county):
    """A retried finish_cadre_run returns the run its first attempt ended, unchanged (same
    version), with each item once; the commit posts once, and a finish arriving after the
    commit changes nothing."""
    remote, local = sources
    _, b, cadres = county
    version = {c.id: c.version for c in remote.stationing_data(region_code="").cadres}
    free = cadres[0].id
    new_run(remote, "st-twice", STATIONING_KIND)
    items = [CadreItem(free, version[free], village_id=b.id)]
    fields = {"state": RunState.PROPOSED, "status": 1, "objective": 7, "total_s": 0.1}
    first = remote.finish_cadre_run("st-twice", items=items, **fields)
    assert remote.finish_cadre_run("st-twice", items=items, **fields) == first
    assert first.state == RunState.PROPOSED and first == local.get_run("st-twice")
    assert stored_rows(server, models.RunCadreItem) == [
        tuple(sorted({"run_id": "st-twice", **items[0].__dict__}.items()))
    ]
    committed = remote.commit_cadres("st-twice", request_id="", etag=etag(first))
    assert remote.finish_cadre_run("st-twice", items=[], **fields) == committed
    assert local.get_run("st-twice").state == RunState.COMMITTED
    assert len(stored_rows(server, models.RunCadreItem)) == 1
    assert ledger_rows(server, "cadre_posting") == [("st-twice", free, b.id, 0, 1)]


def test_cadre_reads_and_commits_carry_the_caller(sources, county):
    """An office's stationing and contracting data over gRPC hold only the cadres it may post
    (those serving in its villages here; the unposted one has no home region), and its commit
    of a run posting another is PERMISSION_DENIED naming cadres[ID]; the admin's commit goes
    through."""
    remote, local = sources
    _, b, cadres = county
    free, pinned, posted = (c.id for c in cadres)
    office = Principal("key-office", Role.OFFICE, factories.ZHAOAN)
    data = remote.stationing_data(region_code=factories.ZHAOAN, reader=office)
    assert data == local.stationing_data(region_code=factories.ZHAOAN, reader=office)
    assert {c.id for c in data.cadres} == {pinned, posted}
    contracting = remote.contracting_data(region_code=factories.ZHAOAN, reader=office)
    assert contracting == local.contracting_data(region_code=factories.ZHAOAN, reader=office)
    assert {c.id for c in contracting.cadres} == {pinned, posted}
    version = {c.id: c.version for c in local.stationing_data(region_code="").cadres}
    new_run(remote, "st-office", STATIONING_KIND)
    items = [CadreItem(free, version[free], village_id=b.id)]
    remote.finish_cadre_run("st-office", items=items, state=RunState.PROPOSED)
    with pytest.raises(errors.PermissionDenied) as denied:
        remote.commit_cadres("st-office", request_id="", etag="", reader=office)
    assert [v.field for v in denied.value.violations] == [f"cadres[{free}]"]
    assert local.get_run("st-office").state == RunState.PROPOSED
    assert remote.commit_cadres("st-office", request_id="", etag="").state == RunState.COMMITTED
