"""The ledger by scope: offices and auditors read the entries, spending, totals and export of
their county only (in the query: page tokens and counts say nothing of the other county)."""

from __future__ import annotations

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import ledger_service_pb2 as lpb
from tests.access import runs
from tests.access.runs import PUNING, ZHAOAN, M
from tests.access.world import call

L = "/fupin.registry.v1.LedgerService/"


def granted(bare, world):
    """Admin aid and contracting runs in both counties, committed; the grants by household."""
    for county, tag in ((ZHAOAN, "a"), (PUNING, "b")):
        made = runs.make(bare, world, "admin", tag, county=county)
        for run in (made[0], made[2]):
            request = mpb.CommitMatchRunRequest(id=run.id)
            code, _, details = call(bare, f"{M}CommitMatchRun", request, world.keys["admin"])
            assert code.name == "OK", details
    entries = entries_of(bare, world, "admin")
    return {e.subject_id: e.amount_fen for e in entries if e.kind == lpb.AID_GRANT}


def entries_of(bare, world, key, **filters):
    """Every entry ListLedgerEntries shows key, one per page."""
    out, token = [], ""
    while True:
        request = lpb.ListLedgerEntriesRequest(page_size=1, page_token=token, **filters)
        code, pages, details = call(bare, f"{L}ListLedgerEntries", request, world.keys[key])
        assert code.name == "OK", details
        out += pages[0].entries
        page = pages[0]
        token = page.next_page_token
        if not token:
            return out


def test_office_reads_its_county_entries_only(bare, world):
    """Each office lists the grants and contracts of its own household, nothing of the other;
    an auditor of Zhao'an the same, an auditor without scope everything."""
    grants = granted(bare, world)
    a, b = world.ids["household_a"], world.ids["household_b"]
    assert set(grants) == {a, b}  # the test needs a grant in each county
    everything = entries_of(bare, world, "admin")
    for key, own in (("office", a), ("office_b", b), ("auditor", a)):
        seen = entries_of(bare, world, key)
        assert [e.seq for e in seen] == [e.seq for e in everything if e.subject_id == own], key
    assert len(entries_of(bare, world, "auditor_all")) == len(everything)
    assert entries_of(bare, world, "office", household_id=b) == []


def test_spending_and_totals_by_scope(bare, world):
    """Programme spending: the other county's programme is NOT_FOUND as an unknown one; totals
    and the transparency export hold the office's county alone, whatever region it asks."""
    grants = granted(bare, world)
    a, b = world.ids["household_a"], world.ids["household_b"]
    program_a, program_b = world.ids["aid_program_a"], world.ids["aid_program_b"]
    code, (spending,), _ = call(
        bare, f"{L}GetProgrammeSpending", lpb.GetProgrammeSpendingRequest(), world.keys["office"]
    )
    assert [(p.programme_id, p.grants) for p in spending.programmes] == [(program_a, 1)]
    answers = []
    for ident in (program_b, "aid-unknown"):
        request = lpb.GetProgrammeSpendingRequest(programme_ids=[ident])
        code, _, details = call(bare, f"{L}GetProgrammeSpending", request, world.keys["office"])
        answers.append((code.name, details.replace(ident, "<id>")))
    assert answers[0] == answers[1] and answers[0][0] == "NOT_FOUND"
    for region in ("", ZHAOAN, "35", PUNING):
        request = lpb.SpendingTotalsRequest(region_code=region)
        _, (totals,), _ = call(bare, f"{L}SpendingTotals", request, world.keys["office"])
        expected = grants[a] if region != PUNING else 0
        assert totals.total_fen == expected, region
        assert [c.key for c in totals.counties] == ([ZHAOAN] if expected else [])
    _, (admin_totals,), _ = call(
        bare, f"{L}SpendingTotals", lpb.SpendingTotalsRequest(), world.keys["admin"]
    )
    assert admin_totals.total_fen == grants[a] + grants[b]
    _, chunks, _ = call(
        bare, f"{L}ExportTransparency", lpb.ExportTransparencyRequest(), world.keys["auditor"]
    )
    lines = b"".join(c.data for c in chunks).decode().splitlines()[1:]
    assert len(lines) == 1 and f",{ZHAOAN}" in lines[0]


def test_verify_ledger_needs_an_unscoped_key(bare, world):
    """VerifyLedger reads the whole chain: a county auditor is refused, a national one not."""
    request = lpb.VerifyLedgerRequest()
    assert call(bare, f"{L}VerifyLedger", request, world.keys["auditor"])[0].name == (
        "PERMISSION_DENIED"
    )
    code, (check,), _ = call(bare, f"{L}VerifyLedger", request, world.keys["auditor_all"])
    assert code.name == "OK" and check.intact
