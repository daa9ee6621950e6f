"""An office posts only the cadres of its region: those whose home region lies in its scope
and those serving in its villages. Its stationing and contracting selections read no others,
and its commit of a run naming another is PERMISSION_DENIED and changes nothing."""

from __future__ import annotations

import pytest
from sqlmodel import select

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry.resources import models
from tests import factories
from tests.access import runs
from tests.access.runs import PUNING, ZHAOAN, M
from tests.access.world import call


@pytest.fixture
def cadres(registry, world):
    """A Zhao'an cadre 40 km from the villages and a Puning cadre right at them (the cheaper
    posting for either village), both unposted; the world's cadre has no home region."""
    made = {}
    for tag, county, where in (("a", ZHAOAN, (24.0, 117.4)), ("b", PUNING, (23.71, 117.18))):
        cadre = factories.cadre(
            home_region_code=county, location=pb.LatLng(latitude=where[0], longitude=where[1])
        )
        made[tag] = registry.CreateCadre(api.CreateCadreRequest(cadre=cadre)).id
    return made


def station(bare, world, key, county, tag, method="AssignCadres"):
    """A stationing run (or, by `method`, a contracting one) over `county`'s registry records,
    made with world.keys[key]."""
    request = runs.requests(world, tag, county)[method]
    code, responses, details = call(bare, f"{M}{method}", request, world.keys[key])
    assert code.name == "OK", details
    return responses[0]


def postings(run):
    return {p.cadre_id: p.village_id for p in run.stationing.postings}


def test_an_offices_selection_reads_only_the_cadres_it_may_post(bare, world, cadres):
    """Each county's office posts its own cadre in its village; the admin's selection of
    Zhao'an reads every unposted cadre and posts the Puning one, which is nearer."""
    village_a, village_b = world.ids["village_a"], world.ids["village_b"]
    mine = station(bare, world, "office", ZHAOAN, "a")
    assert (mine.stationing.cadres, postings(mine)) == (1, {cadres["a"]: village_a})
    theirs = station(bare, world, "office_b", PUNING, "b")
    assert (theirs.stationing.cadres, postings(theirs)) == (1, {cadres["b"]: village_b})
    admins = station(bare, world, "admin", ZHAOAN, "admin")
    assert (admins.stationing.cadres, postings(admins)) == (3, {cadres["b"]: village_a})


def test_an_office_cannot_commit_posting_another_regions_cadre(
    bare, world, cadres, registry, server
):
    """The admin's run over Zhao'an posts Puning's cadre: Zhao'an's office sees the run but its
    commit is PERMISSION_DENIED naming cadres[ID], the run stays PROPOSED and the cadre
    unposted; the admin commits it, and Zhao'an's office then reads that cadre, who serves in
    its village."""
    before = registry.GetCadre(api.GetCadreRequest(id=cadres["b"]))
    run = station(bare, world, "admin", ZHAOAN, "admin")
    commit = mpb.CommitMatchRunRequest(id=run.id)
    code, _, details = call(bare, f"{M}CommitMatchRun", commit, world.keys["office"])
    assert code.name == "PERMISSION_DENIED" and f"cadres[{cadres['b']}]" in details, details
    code, (stored,), _ = call(
        bare, f"{M}GetMatchRun", mpb.GetMatchRunRequest(id=run.id), world.keys["office"]
    )
    assert stored.state == mpb.PROPOSED
    assert registry.GetCadre(api.GetCadreRequest(id=cadres["b"])) == before
    with server.store.transaction() as session:
        assert session.scalars(select(models.LedgerEntry)).all() == []
    code, (committed,), details = call(bare, f"{M}CommitMatchRun", commit, world.keys["admin"])
    assert code.name == "OK" and committed.state == mpb.COMMITTED, details
    again = station(bare, world, "office", ZHAOAN, "again")
    assert again.stationing.cadres == 2


def contract(bare, world, key, county, tag):
    return station(bare, world, key, county, tag, "ContractHouseholds")


def contracted(run):
    return {c.household_id: c.cadre_id for c in run.contracting.contracts}


def test_an_offices_contracting_reads_and_commits_only_the_cadres_it_may_post(
    bare, world, cadres, registry, server
):
    """Contracting reads cadres as stationing does: Zhao'an's office contracts its household to
    its own cadre (40 km away) while the admin's run over Zhao'an reads all three cadres and
    takes the nearer Puning one; the office's commit of that run is PERMISSION_DENIED naming
    cadres[ID] and writes nothing; the admin's goes through."""
    household = world.ids["household_a"]
    mine = contract(bare, world, "office", ZHAOAN, "a")
    assert (mine.contracting.cadres, contracted(mine)) == (1, {household: cadres["a"]})
    admins = contract(bare, world, "admin", ZHAOAN, "admin")
    assert (admins.contracting.cadres, contracted(admins)) == (3, {household: cadres["b"]})
    commit = mpb.CommitMatchRunRequest(id=admins.id)
    code, _, details = call(bare, f"{M}CommitMatchRun", commit, world.keys["office"])
    assert code.name == "PERMISSION_DENIED" and f"cadres[{cadres['b']}]" in details, details
    with server.store.transaction() as session:
        assert session.scalars(select(models.HouseholdContract)).all() == []
        assert session.scalars(select(models.LedgerEntry)).all() == []
    code, (committed,), details = call(bare, f"{M}CommitMatchRun", commit, world.keys["admin"])
    assert code.name == "OK" and committed.state == mpb.COMMITTED, details
    with server.store.transaction() as session:
        stored = session.scalars(select(models.HouseholdContract)).all()
        assert [(c.household_id, c.cadre_id) for c in stored] == [(household, cadres["b"])]
