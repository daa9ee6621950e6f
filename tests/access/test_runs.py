"""Aid and cadre runs carry the region they were made for: offices make, see and commit runs of
their county only, auditors read those of their scope, platforms see none (NOT_FOUND exactly
as an unknown id, and nothing in list pages or tokens)."""

from __future__ import annotations

from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import resources_pb2 as pb
from registry.access.policy import Role
from tests.access import runs
from tests.access.runs import PUNING, ZHAOAN, M
from tests.access.world import call


def ids(made):
    return [run.id for run in made]


def produce_request(region: str, run_id: str) -> mpb.MatchProduceRequest:
    """A produce run over the registry's plums of a county, as of 5 May 2020."""
    selection = mpb.RegistrySelection(product="green_plum", today="2020-05-05", region_code=region)
    return mpb.MatchProduceRequest(selection=selection, parameters=runs.PARAMS, run_id=run_id)


def test_office_runs_are_seen_in_its_county_only(bare, world, server):
    """Zhao'an's office makes its three runs; it and Zhao'an's auditors see them, Puning's
    office and auditor and the platform get NOT_FOUND as for unknown ids and do not list them."""
    world.keys["auditor_b"] = server.keys.create(Role.AUDITOR, PUNING).secret
    mine = ids(runs.make(bare, world, "office", "mine", region=""))
    theirs = ids(runs.make(bare, world, "admin", "theirs", county=PUNING))
    for key in ("office", "auditor", "auditor_all", "admin"):
        assert set(mine) <= set(runs.listed(bare, world, key)), key
    assert sorted(runs.listed(bare, world, "office")) == sorted(mine)
    assert sorted(runs.listed(bare, world, "office_b")) == sorted(theirs)
    assert sorted(runs.listed(bare, world, "auditor_b")) == sorted(theirs)
    assert runs.listed(bare, world, "platform") == []
    for key in ("office_b", "auditor_b", "platform"):
        for run_id in mine:
            assert runs.not_found_like_unknown(bare, world, key, run_id) == [], key
    for run_id in theirs:
        assert runs.not_found_like_unknown(bare, world, "office", run_id) == []
        assert runs.not_found_like_unknown(bare, world, "auditor", run_id) == []


def test_office_run_without_region_covers_its_county(bare, world):
    """An office's contracting run naming no region reads its county's households only; the
    admin's reads both counties."""
    household_a, household_b = world.ids["household_a"], world.ids["household_b"]
    office = runs.make(bare, world, "office", "own", region="")[2].SerializeToString()
    admin = runs.make(bare, world, "admin", "all", region="")[2].SerializeToString()
    assert household_a.encode() in office and household_b.encode() not in office
    assert household_a.encode() in admin and household_b.encode() in admin


def test_office_cannot_run_outside_its_county(bare, world):
    """A selection of Puning by Zhao'an's office: PERMISSION_DENIED naming
    selection.region_code, and no run is stored; Puning's programme is NOT_FOUND to it, as an
    unknown one."""
    for rpc, request in runs.requests(world, "out", ZHAOAN, region=PUNING).items():
        code, _, details = call(bare, f"{M}{rpc}", request, world.keys["office"])
        assert (code.name, "selection.region_code" in details) == ("PERMISSION_DENIED", True)
    other = runs.requests(world, "prog", PUNING, region=ZHAOAN)["AllocateAid"]
    code, _, details = call(bare, f"{M}AllocateAid", other, world.keys["office"])
    programme = world.ids["aid_program_b"]
    assert (code.name, details) == ("NOT_FOUND", f"aid programme {programme!r} not found")
    assert runs.listed(bare, world, "admin") == []


def test_office_commits_its_runs_only(bare, world):
    """Zhao'an's office commits and discards its own runs; Puning's office cannot touch them."""
    aid, stationing, _ = runs.make(bare, world, "office", "c", region="")
    for run in (aid, stationing):
        request = mpb.CommitMatchRunRequest(id=run.id)
        code, _, _ = call(bare, f"{M}CommitMatchRun", request, world.keys["office_b"])
        assert code.name == "NOT_FOUND"
    code, (committed,), details = call(
        bare, f"{M}CommitMatchRun", mpb.CommitMatchRunRequest(id=aid.id), world.keys["office"]
    )
    assert code.name == "OK" and committed.state == mpb.COMMITTED, details
    code, (discarded,), _ = call(
        bare, f"{M}DiscardMatchRun", mpb.DiscardMatchRunRequest(id=stationing.id),
        world.keys["office"],
    )  # fmt: skip
    assert code.name == "OK" and discarded.state == mpb.DISCARDED


def test_office_inline_run_belongs_to_its_county(bare, world):
    """An office's inline (what-if) run is its own: Puning's office does not see it."""
    here = pb.LatLng(latitude=23.7, longitude=117.2)
    inline = cpb.StationingProblem(
        cadres=[cpb.InlineCadre(id="c1", rank=3, location=here, max_distance_km=50)],
        villages=[cpb.InlineVillage(id="v1", location=here, team_min=1, team_max=1)],
    )
    request = mpb.AssignCadresRequest(inline=inline, parameters=runs.PARAMS, run_id="run-inline-a")
    code, (run,), details = call(bare, f"{M}AssignCadres", request, world.keys["office"])
    assert code.name == "OK", details
    assert runs.listed(bare, world, "office") == [run.id]  # the run_id, scoped to the key
    assert runs.listed(bare, world, "office_b") == []
    for name in (run.id, "run-inline-a"):
        assert runs.not_found_like_unknown(bare, world, "office_b", name) == []


def test_an_office_sees_the_produce_runs_selling_its_producers_produce(bare, world):
    """A produce run on Puning's listings is Puning's office's to read (not to change), and
    Zhao'an's office sees nothing of it, as of an unknown run."""
    request = produce_request(PUNING, "run-produce-x")
    code, (run,), _ = call(bare, f"{M}MatchProduce", request, world.keys["platform"])
    assert code.name == "OK"
    assert {a.producer_id for a in run.produce.allocations} == {world.ids["producer_b"]}
    assert runs.listed(bare, world, "office_b") == [run.id]
    assert runs.listed(bare, world, "office") == []
    assert runs.not_found_like_unknown(bare, world, "office", run.id) == []
    # Auditors as offices (Zhao'an's auditor read it, though it touches only Puning).
    assert runs.listed(bare, world, "auditor") == []
    assert runs.not_found_like_unknown(bare, world, "auditor", run.id) == []
    assert runs.listed(bare, world, "auditor_all") == [run.id]
    discard = mpb.DiscardMatchRunRequest(id=run.id)
    code, _, details = call(bare, f"{M}DiscardMatchRun", discard, world.keys["office_b"])
    assert code.name == "PERMISSION_DENIED" and "role office reads the produce runs" in details


def test_a_request_id_never_replays_another_countys_run(bare, world):
    """Two offices sending the same request with the same request_id: two requests, so the
    second gets a run of its own (it got ALREADY_EXISTS, which confirmed the first's id was
    in use), never the first one's run."""
    request = runs.requests(world, "rid", ZHAOAN, region="")["ContractHouseholds"]
    request.run_id, request.request_id = "", "daily-contracts"
    code, (first,), details = call(bare, f"{M}ContractHouseholds", request, world.keys["office"])
    assert code.name == "OK", details
    code, answers, details = call(bare, f"{M}ContractHouseholds", request, world.keys["office_b"])
    assert code.name == "OK", details
    assert answers[0].id != first.id
    code, (again,), _ = call(bare, f"{M}ContractHouseholds", request, world.keys["office"])
    assert (code.name, again.id) == ("OK", first.id)


def test_a_platform_sees_only_the_produce_runs_it_made(bare, world, server):
    """Another platform's produce run, and an admin's (both show other buyers' orders and
    prices), are NOT_FOUND to a platform as an unknown id and absent from its lists (it read
    every produce run); Zhao'an's auditor sees the run on Zhao'an's producers."""
    twin = server.keys.create(Role.PLATFORM, world.ids["buyer_2"])
    world.keys["platform_2"] = twin.secret
    made = {}
    for key in ("platform", "admin"):
        request = produce_request(ZHAOAN, f"run-own-{key}")
        code, (run,), details = call(bare, f"{M}MatchProduce", request, world.keys[key])
        assert code.name == "OK", details
        made[key] = run.id
    assert runs.listed(bare, world, "platform") == [made["platform"]]
    assert runs.listed(bare, world, "platform_2") == []
    assert runs.not_found_like_unknown(bare, world, "platform_2", made["platform"]) == []
    assert runs.not_found_like_unknown(bare, world, "platform", made["admin"]) == []
    assert sorted(runs.listed(bare, world, "auditor")) == sorted(made.values())


def test_a_cooperative_pages_only_its_own_rows_of_a_run(bare, world):
    """A produce run's lists paged by an admin, then by the cooperative, then by the admin
    again: the cooperative gets exactly its own listings' rows (the admin's, filtered by
    producer), and the admin's second reading equals its first (the server keeps the parsed
    result between pages; a cooperative's reading must not narrow it for the next caller)."""
    request = produce_request(ZHAOAN, "run-lists")
    code, (run,), details = call(bare, f"{M}MatchProduce", request, world.keys["admin"])
    assert code.name == "OK", details
    lists = (
        ("ListRunAllocations", "allocations", mpb.ListRunAllocationsRequest),
        ("ListRunUnsold", "unsold", mpb.ListRunUnsoldRequest),
    )

    def paged(key: str) -> dict[str, list]:
        out: dict[str, list] = {}
        for method, field, request_type in lists:
            out[field], token = [], ""
            while True:
                page_request = request_type(parent=run.id, page_size=1, page_token=token)
                code, (page,), details = call(bare, f"{M}{method}", page_request, world.keys[key])
                assert code.name == "OK", (key, method, details)
                out[field] += getattr(page, field)
                token = page.next_page_token
                if not token:
                    break
        return out

    first = paged("admin")
    assert first == {
        "allocations": list(run.produce.allocations),
        "unsold": list(run.produce.unsold),
    }
    coop = world.ids["coop"]
    every = first["allocations"] + first["unsold"]
    assert {r.producer_id for r in every} >= {coop, world.ids["producer_a"]}  # some to hide
    mine = paged("cooperative")
    assert mine == {
        field: [r for r in rows if r.producer_id == coop] for field, rows in first.items()
    }
    assert paged("admin") == first
