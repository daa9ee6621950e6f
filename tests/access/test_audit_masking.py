"""Every response naming a household is audited (producers, aid runs, ledger entries), and
causes tied to health are masked for auditors (registry/access/redaction.py)."""

from __future__ import annotations

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry.access.policy import Role
from tests.access.world import PUNING, ZHAOAN, call

_R = "/fupin.registry.v1.RegistryService/"
_M = "/fupin.matcher.v1.MatcherService/"
_L = "/fupin.registry.v1.LedgerService/"
_X = "/fupin.registry.v1.AccessService/"


def _audited(bare, world, rpc: str) -> list[list[str]]:
    """The household ids of the admin-visible audit events of rpc by world keys."""
    _, (page,), _ = call(
        bare,
        f"{_X}ListAuditEvents",
        apb.ListAuditEventsRequest(page_size=1000),
        world.keys["admin"],
    )
    return [
        list(e.household_ids)
        for e in page.events
        if e.rpc.endswith("/" + rpc) and e.key_id in world.key_ids.values()
    ]


def test_auditor_sees_health_causes_withheld(bare, world):
    """ILLNESS among a household's causes reaches an auditor as POVERTY_CAUSE_UNSPECIFIED
    (it came through while health and disability were masked); an admin sees it."""
    request = api.GetHouseholdRequest(id=world.ids["household_a"])
    _, (plain,), _ = call(bare, f"{_R}GetHousehold", request, world.keys["admin"])
    assert pb.ILLNESS in plain.causes
    _, (masked,), _ = call(bare, f"{_R}GetHousehold", request, world.keys["auditor"])
    assert pb.ILLNESS not in masked.causes and pb.DISABILITY not in masked.causes
    assert len(masked.causes) == len(plain.causes)
    kept = [c for c in plain.causes if c not in (pb.ILLNESS, pb.DISABILITY)]
    assert [c for c in masked.causes if c != pb.POVERTY_CAUSE_UNSPECIFIED] == kept


def test_producer_reads_are_audited(bare, world):
    """A GetProducer of a household producer names that household in the audit log."""
    request = api.GetProducerRequest(id=world.ids["producer_a"])
    call(bare, f"{_R}GetProducer", request, world.keys["office"])
    assert [world.ids["household_a"]] in _audited(bare, world, "GetProducer")


def test_aid_runs_and_ledger_reads_are_audited(bare, world):
    """An aid run granting to a household, and the ledger entries of its commit, are audited
    with the household; an auditor's copy of the run withholds health causes."""
    request = mpb.AllocateAidRequest(
        selection=mpb.AidSelection(region_code=ZHAOAN, programme_ids=[world.ids["aid_program_a"]]),
        parameters=mpb.SolveParameters(time_limit_s=10, reproducible=True),
    )
    code, (run,), details = call(bare, f"{_M}AllocateAid", request, world.keys["admin"])
    assert code.name == "OK", details
    granted = {g.household_id for g in run.aid.grants}
    assert world.ids["household_a"] in granted
    assert any(world.ids["household_a"] in ids for ids in _audited(bare, world, "AllocateAid"))
    commit = mpb.CommitMatchRunRequest(id=run.id)
    code, _, details = call(bare, f"{_M}CommitMatchRun", commit, world.keys["admin"])
    assert code.name == "OK", details
    entries = lpb.ListLedgerEntriesRequest(household_id=world.ids["household_a"])
    code, (page,), _ = call(bare, f"{_L}ListLedgerEntries", entries, world.keys["office"])
    assert code.name == "OK" and page.entries
    assert any(
        world.ids["household_a"] in ids for ids in _audited(bare, world, "ListLedgerEntries")
    )
    get = mpb.GetMatchRunRequest(id=run.id)
    code, (seen,), _ = call(bare, f"{_M}GetMatchRun", get, world.keys["auditor"])
    assert code.name == "OK"
    for grant in seen.aid.grants:
        assert pb.ILLNESS not in grant.causes_matched


def _county_events(bare, world, key: str) -> dict[str, list[list[str]]]:
    """Household ids of the audit events a key may list, by the RPC's short name."""
    _, (page,), _ = call(
        bare, f"{_X}ListAuditEvents", apb.ListAuditEventsRequest(page_size=1000), world.keys[key]
    )
    out: dict[str, list[list[str]]] = {}
    for e in page.events:
        out.setdefault(e.rpc.rsplit("/", 1)[-1], []).append(list(e.household_ids))
    return out


def test_a_countys_auditor_sees_its_aid_ledger_and_export_events(bare, world, server):
    """Aid runs, ledger reads and the transparency export name households by id only; their
    events carry the households' county, so Zhao'an's auditor sees them (it saw none: the
    events had no county) and Puning's sees none of them. The export was not audited. The
    auditor's spending by cause merges the health causes into "withheld" (it showed
    "illness")."""
    request = mpb.AllocateAidRequest(
        selection=mpb.AidSelection(region_code=ZHAOAN, programme_ids=[world.ids["aid_program_a"]]),
        parameters=mpb.SolveParameters(time_limit_s=10, reproducible=True),
    )
    _, (run,), details = call(bare, f"{_M}AllocateAid", request, world.keys["office"])
    assert run.aid.grants, details
    call(bare, f"{_M}CommitMatchRun", mpb.CommitMatchRunRequest(id=run.id), world.keys["office"])
    entries = lpb.ListLedgerEntriesRequest(household_id=world.ids["household_a"])
    call(bare, f"{_L}ListLedgerEntries", entries, world.keys["office"])
    code, chunks, _ = call(
        bare, f"{_L}ExportTransparency", lpb.ExportTransparencyRequest(), world.keys["office"]
    )
    assert code.name == "OK" and b"".join(c.data for c in chunks).count(b"\n") == 2
    here = [world.ids["household_a"]]
    zhaoan = _county_events(bare, world, "auditor")
    for rpc in ("AllocateAid", "CommitMatchRun", "ListLedgerEntries", "ExportTransparency"):
        assert here in zhaoan.get(rpc, []), (rpc, zhaoan)
    puning = server.keys.create(Role.AUDITOR, PUNING).secret
    world.keys["auditor_b"] = puning
    totals = {}
    for key in ("admin", "auditor"):
        _, (reply,), _ = call(
            bare, f"{_L}SpendingTotals", lpb.SpendingTotalsRequest(), world.keys[key]
        )
        totals[key] = {t.key: t.amount_fen for t in reply.causes}
    assert "illness" in totals["admin"]  # what the grant was for, withheld from the auditor:
    assert not {"illness", "disability"} & set(totals["auditor"])
    assert sum(totals["auditor"].values()) == sum(totals["admin"].values())
    assert totals["auditor"]["withheld"] >= totals["admin"]["illness"]
    puning_events = _county_events(bare, world, "auditor_b")
    assert set(puning_events) == {"CreateHousehold", "CreateProducer"}  # its own household
