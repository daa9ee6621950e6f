"""LedgerService over a real server, after aid commits: concurrency against one budget, the
append-only triggers, tampering caught by VerifyLedger, queries and the transparency export."""

from __future__ import annotations

import csv
import io
import threading

import grpc
import pytest
import sqlalchemy.exc
from google.protobuf import field_mask_pb2
from sqlalchemy import text

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import ledger_service_pb2 as lpb
from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry.ledger import guard as ledger_guard
from tests import factories
from tests.aidfixtures import poor_households, programme, selection_request
from tests.ledgertamper import rewrite
from tests.rpcerrors import fields_of, rpc_fails

GRANT = 200_000  # fen per household


@pytest.fixture
def matcher(channel):
    return mpb_grpc.MatcherServiceStub(channel)


@pytest.fixture
def ledger(channel):
    return lpb_grpc.LedgerServiceStub(channel)


@pytest.fixture
def granted(registry, matcher):
    """Three ill households, a medical programme for two of them, committed."""
    households = poor_households(registry, 3)
    medical = programme(registry, budget_fen=2 * GRANT, amount_fen=GRANT)
    run = matcher.AllocateAid(selection_request([medical.id]), timeout=60)
    matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run.id))
    return households, medical, run


def seqs(server):
    with server.store.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT seq FROM ledger_entry ORDER BY seq"))]


def test_twenty_concurrent_commits_never_overspend(server, registry, matcher, ledger):
    """20 runs (one per village, a household each) over one budget for 3 grants, committed at
    once: 3 grants in total, the rest ABORTED naming the programme; spent never above the
    budget; the chain intact."""
    villages = [poor_households(registry, 1)[0].village_id for _ in range(20)]
    codes = [registry.GetVillage(api.GetVillageRequest(id=v)).admin_code for v in villages]
    medical = programme(registry, budget_fen=3 * GRANT, amount_fen=GRANT)
    runs = []
    for code in codes:
        request = selection_request([medical.id])
        request.selection.region_code = code
        run = matcher.AllocateAid(request, timeout=60)
        assert len(run.aid.grants) == 1
        runs.append(run.id)
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def commit(run_id: str) -> None:
        barrier.wait()
        try:
            matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run_id), timeout=60)
            outcomes.append("ok")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.ABORTED, error.details()
            assert fields_of(error) == [f"programmes[{medical.id}]"]
            outcomes.append("aborted")

    threads = [threading.Thread(target=commit, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(outcomes) == ["aborted"] * 17 + ["ok"] * 3
    spending = ledger.GetProgrammeSpending(lpb.GetProgrammeSpendingRequest())
    [only] = spending.programmes
    assert (only.spent_fen, only.remaining_fen, only.grants) == (3 * GRANT, 0, 3)
    assert ledger.VerifyLedger(lpb.VerifyLedgerRequest()).intact


def test_database_refuses_update_and_delete(server, granted):
    """The triggers refuse UPDATE and DELETE of ledger rows, whoever sends them."""
    for statement in (
        "UPDATE ledger_entry SET amount_fen = 1",
        "DELETE FROM ledger_entry",
    ):
        with (
            pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"),
            server.store.engine.begin() as conn,
        ):
            conn.execute(text(statement))
    assert len(seqs(server)) == 2


def test_verify_names_an_altered_entry(server, ledger, granted):
    """An amount changed behind the service's back breaks the chain at that entry."""
    before = ledger.VerifyLedger(lpb.VerifyLedgerRequest())
    assert (before.intact, before.entries, before.first_broken_seq) == (True, 2, 0)
    _, second = seqs(server)
    with server.store.engine.begin() as conn, ledger_guard.suspended(conn):
        conn.execute(text("UPDATE ledger_entry SET amount_fen = 1 WHERE seq = :s"), {"s": second})
    after = ledger.VerifyLedger(lpb.VerifyLedgerRequest())
    assert (after.intact, after.first_broken_seq) == (False, second)
    assert "altered" in after.reason


def test_verify_catches_a_grant_moved_to_another_household(server, ledger, granted):
    """A grant's household (subject_id) changed to the household left without one breaks the
    chain at that entry: the hash covers who was granted, not only how much."""
    households, _, run = granted
    first, _ = seqs(server)
    granted_ids = {g.household_id for g in run.aid.grants}
    (left_out,) = [h.id for h in households if h.id not in granted_ids]
    with server.store.engine.begin() as conn, ledger_guard.suspended(conn):
        conn.execute(
            text("UPDATE ledger_entry SET subject_id = :h WHERE seq = :s"),
            {"h": left_out, "s": first},
        )
    after = ledger.VerifyLedger(lpb.VerifyLedgerRequest())
    assert (after.intact, after.first_broken_seq) == (False, first)
    assert "altered" in after.reason


def test_verify_names_the_entry_after_a_removed_one(server, registry, matcher, ledger, granted):
    """A removed entry: the entry after the gap is named, also once every hash after it has
    been recomputed to hide it (the seqs then jump: the old chain, blind to seq, passed)."""
    school = programme(registry, budget_fen=GRANT, amount_fen=GRANT, causes=[])
    run = matcher.AllocateAid(selection_request([school.id]), timeout=60)
    matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run.id))
    _, second, third = seqs(server)
    with server.store.engine.begin() as conn, ledger_guard.suspended(conn):
        conn.execute(text("DELETE FROM ledger_entry WHERE seq = :s"), {"s": second})
    result = ledger.VerifyLedger(lpb.VerifyLedgerRequest())
    assert (result.intact, result.first_broken_seq) == (False, third)
    assert "removed" in result.reason
    rewrite(server, renumber=False)  # every hash recomputed, the seqs left as they are
    hidden = ledger.VerifyLedger(lpb.VerifyLedgerRequest())
    assert (hidden.intact, hidden.first_broken_seq) == (False, third)
    assert "removed" in hidden.reason


def test_verify_catches_the_newest_entry_removed(server, ledger, granted):
    """Removing the last entry leaves the chain whole, but spent_fen no longer adds up."""
    _, medical, _ = granted
    with server.store.engine.begin() as conn, ledger_guard.suspended(conn):
        conn.execute(text("DELETE FROM ledger_entry WHERE seq = :s"), {"s": seqs(server)[-1]})
    result = ledger.VerifyLedger(lpb.VerifyLedgerRequest())
    assert not result.intact
    assert medical.id in result.reason


def test_entries_by_household_programme_and_run(ledger, granted):
    """Entries filter by household, programme and run, and page with tokens."""
    _, medical, run = granted
    by_run = ledger.ListLedgerEntries(lpb.ListLedgerEntriesRequest(run_id=run.id)).entries
    assert len(by_run) == 2
    assert {e.counterpart_id for e in by_run} == {medical.id}
    assert all(e.kind == lpb.AID_GRANT and e.amount_fen == GRANT for e in by_run)
    helped = by_run[0].subject_id
    mine = ledger.ListLedgerEntries(lpb.ListLedgerEntriesRequest(household_id=helped)).entries
    assert [e.seq for e in mine] == [by_run[0].seq]
    page = ledger.ListLedgerEntries(
        lpb.ListLedgerEntriesRequest(programme_id=medical.id, page_size=1)
    )
    rest = ledger.ListLedgerEntries(
        lpb.ListLedgerEntriesRequest(
            programme_id=medical.id, page_size=1, page_token=page.next_page_token
        )
    )
    assert [e.seq for e in [*page.entries, *rest.entries]] == [e.seq for e in by_run]
    assert not rest.next_page_token


def test_spending_totals_per_village_county_and_cause(registry, ledger, granted):
    """The two grants add up per village, county and cause (all ILLNESS here)."""
    households, _, _ = granted
    village = registry.GetVillage(api.GetVillageRequest(id=households[0].village_id))
    totals = ledger.SpendingTotals(lpb.SpendingTotalsRequest())
    assert totals.total_fen == 2 * GRANT
    assert [(t.key, t.amount_fen, t.households) for t in totals.villages] == [
        (village.admin_code, 2 * GRANT, 2)
    ]
    assert [(t.key, t.amount_fen) for t in totals.counties] == [(factories.ZHAOAN, 2 * GRANT)]
    assert [(t.key, t.amount_fen) for t in totals.causes] == [("illness", 2 * GRANT)]
    elsewhere = ledger.SpendingTotals(lpb.SpendingTotalsRequest(region_code="445281"))
    assert elsewhere.total_fen == 0


def test_transparency_export_masks_households(registry, ledger, granted):
    """The CSV has one line per grant, no household id, name or card number."""
    households, medical, run = granted
    data = b"".join(
        c.data for c in ledger.ExportTransparency(lpb.ExportTransparencyRequest())
    ).decode()
    rows = list(csv.DictReader(io.StringIO(data)))
    assert len(rows) == 2
    assert {r["programme_id"] for r in rows} == {medical.id}
    assert {r["run_id"] for r in rows} == {run.id}
    assert len({r["household_token"] for r in rows}) == 2
    for h in households:
        for secret in (h.id, h.head_name, h.card_number):
            assert secret not in data


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.ListLedgerEntries(lpb.ListLedgerEntriesRequest(run_id="bad id")), "run_id"),
        (
            lambda s: s.ListLedgerEntries(lpb.ListLedgerEntriesRequest(page_token="x!")),
            "page_token",
        ),
        (lambda s: s.SpendingTotals(lpb.SpendingTotalsRequest(region_code="35x")), "region_code"),
        (
            lambda s: s.GetProgrammeSpending(
                lpb.GetProgrammeSpendingRequest(programme_ids=["a b"])
            ),
            "programme_ids[0]",
        ),
    ],
)
def test_bad_input_names_the_field(ledger, call, field):
    error = rpc_fails(lambda: call(ledger), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == [field]


def test_unknown_programme_spending_is_not_found(ledger):
    error = rpc_fails(
        lambda: ledger.GetProgrammeSpending(lpb.GetProgrammeSpendingRequest(programme_ids=["p1"])),
        grpc.StatusCode.NOT_FOUND,
    )
    assert fields_of(error) == ["programme_ids[0]"]


def archive(registry, programme_id: str):
    return registry.UpdateAidProgram(
        api.UpdateAidProgramRequest(
            aid_program=pb.AidProgram(id=programme_id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        )
    )


def test_a_granted_programme_is_archived_not_deleted(server, registry, matcher, ledger, granted):
    """DeleteAidProgram of a programme with grants in the ledger: FAILED_PRECONDITION naming
    them; archived instead, it takes no new grants and its spent_fen is still checked against
    the ledger. A programme without grants is deleted as before."""
    _, medical, _ = granted
    delete = api.DeleteAidProgramRequest(id=medical.id)
    error = rpc_fails(
        lambda: registry.DeleteAidProgram(delete), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert f"{medical.id} has 2 grants in the ledger (entries 1, 2)" in error.details()
    assert "archive" in error.details()
    assert archive(registry, medical.id).archived
    listed = registry.ListAidPrograms(api.ListAidProgramsRequest(filter="archived = true"))
    assert [p.id for p in listed.aid_programs] == [medical.id]
    error = rpc_fails(
        lambda: matcher.AllocateAid(selection_request([medical.id]), timeout=60),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "selection.programme_ids[0]" in error.details() and "archived" in error.details()
    assert ledger.VerifyLedger(lpb.VerifyLedgerRequest()).intact
    with server.store.engine.begin() as conn:
        conn.execute(text("UPDATE aid_program SET spent_fen = 0 WHERE id = :p"), {"p": medical.id})
    result = ledger.VerifyLedger(lpb.VerifyLedgerRequest())
    assert not result.intact and medical.id in result.reason
    unused = programme(registry, budget_fen=GRANT, amount_fen=GRANT)
    registry.DeleteAidProgram(api.DeleteAidProgramRequest(id=unused.id))


def test_a_run_of_a_programme_archived_since_is_aborted(registry, matcher, ledger):
    """A proposed run whose programme is archived before its commit: ABORTED naming it,
    nothing granted."""
    poor_households(registry, 2)
    medical = programme(registry, budget_fen=2 * GRANT, amount_fen=GRANT)
    run = matcher.AllocateAid(selection_request([medical.id]), timeout=60)
    archive(registry, medical.id)
    error = rpc_fails(
        lambda: matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run.id)),
        grpc.StatusCode.ABORTED,
    )
    assert fields_of(error) == [f"programmes[{medical.id}]"]
    assert not ledger.ListLedgerEntries(lpb.ListLedgerEntriesRequest()).entries
