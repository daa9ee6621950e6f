"""Runs over the split matcher's link (MatcherStoreService) when a reply is lost: the link's
own request id, made at the first attempt and resent by the retry, makes the retry a replay,
so a run is created, committed or discarded once and the caller gets the first answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from registry.access.policy import Role
from registry.runs import aid as aid_runs
from registry.runs import data, produce, records
from server import grpc_source
from tests.aidfixtures import poor_households, programme
from tests.lossylink import LossyLink
from tests.season.conftest import column

LOST = {"CreateRun", "CommitProduce", "CommitAid", "DiscardRun"}


@pytest.fixture
def lossy(server) -> Iterator[LossyLink]:
    link = LossyLink(f"127.0.0.1:{server.port}", LOST)
    yield link
    link.close()


@pytest.fixture
def remote(lossy):
    """The matcher's RegistrySource, through the lossy link."""
    source, handle = grpc_source.connect(f"127.0.0.1:{lossy.port}", timeout_s=30)
    yield source
    handle.close()


def count(store, sql: str, **params) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def proposed(store, run_id: str, allocations) -> str:
    """A PROPOSED produce run of these (listing, order, kg); returns its etag."""
    records.create_run(store, run_id=run_id, kind=produce.PRODUCE_KIND, parameters=b"", owner="t")
    allocs = [data.Allocation(*a) for a in allocations]
    run = records.update_run(store, run_id, state=data.RunState.PROPOSED, allocations=allocs)
    return f'"{run.version}"'


def resent(lossy: LossyLink, rpc: str) -> str:
    """The request id both attempts of `rpc` carried (the link's own)."""
    first, retry = (r.request_id for r in lossy.seen[rpc])  # type: ignore[attr-defined]
    assert first.startswith(grpc_source.LINK_ID) and retry == first
    return first


def test_a_run_whose_creation_reply_is_lost_is_created_once(server, lossy, remote):
    """The registry stored the run, its reply was lost and the channel retried: the retry
    replays it, and the matcher is told it made the run (so it solves it, not waits for it)."""
    before = count(server.store, "SELECT count(*) FROM match_run")
    run, created = remote.create_run(
        run_id="lnk-run",
        kind=produce.PRODUCE_KIND,
        parameters=b"",
        owner="matcher-a",
        request_id="",
        fingerprint="",
    )
    assert (run.id, run.state, created) == ("lnk-run", data.RunState.QUEUED, True)
    assert count(server.store, "SELECT count(*) FROM match_run") == before + 1
    resent(lossy, "CreateRun")


def test_a_commit_whose_reply_is_lost_commits_once(server, stock, lossy, remote):
    """The commit reserved 50 kg and wrote its ledger entry, its reply was lost: the retry
    answers the committed run instead of FAILED_PRECONDITION or a stale etag, and the
    kilograms and the ledger entry are counted once."""
    etag = proposed(server.store, "lnk-commit", [(stock.listing_id, stock.order_ids[0], 50)])
    entries = count(server.store, "SELECT count(*) FROM ledger_entry")
    run = remote.commit_produce("lnk-commit", request_id="", etag=etag)
    assert run.state == data.RunState.COMMITTED
    assert column(server.store, "listing", "reserved_kg", stock.listing_id) == 400 + 50
    assert column(server.store, "purchase_order", "filled_kg", stock.order_ids[0]) == 100 + 50
    assert count(server.store, "SELECT count(*) FROM ledger_entry") == entries + 1
    sql = "SELECT count(*) FROM ledger_entry WHERE run_id = :r AND quantity = 50"
    assert count(server.store, sql, r="lnk-commit") == 1
    resent(lossy, "CommitProduce")


def test_an_aid_commit_whose_reply_is_lost_grants_once(server, registry, lossy, remote):
    """Two grants of 2,000 yuan committed, the reply lost: the programme's spent_fen and the
    ledger count them once."""
    households = poor_households(registry, 2)
    medical = programme(registry, budget_fen=1_000_000, amount_fen=200_000)
    grants = [data.GrantRecord(h.id, medical.id, 200_000) for h in households]
    records.create_run(
        server.store, run_id="lnk-aid", kind=aid_runs.AID_KIND, parameters=b"", owner="t"
    )
    aid_runs.store_grants(server.store, "lnk-aid", grants)
    run = records.update_run(server.store, "lnk-aid", state=data.RunState.PROPOSED)
    committed = remote.commit_aid("lnk-aid", request_id="", etag=f'"{run.version}"')
    assert committed.state == data.RunState.COMMITTED
    assert column(server.store, "aid_program", "spent_fen", medical.id) == 400_000
    sql = "SELECT count(*) FROM ledger_entry WHERE run_id = :r AND amount_fen = 200000"
    assert count(server.store, sql, r="lnk-aid") == 2
    resent(lossy, "CommitAid")


def test_a_discard_whose_reply_is_lost_answers_the_discarded_run(server, stock, lossy, remote):
    """A discard was not retried before: a lost reply was UNAVAILABLE for a run discarded."""
    etag = proposed(server.store, "lnk-discard", [(stock.listing_id, stock.order_ids[1], 10)])
    run = remote.discard_run("lnk-discard", etag=etag)
    assert run.state == data.RunState.DISCARDED
    assert column(server.store, "listing", "reserved_kg", stock.listing_id) == 400
    resent(lossy, "DiscardRun")


def test_a_link_id_is_scoped_to_the_calling_key(server, monkeypatch):
    """The same link id from another matcher's key replays nothing of the first's."""
    made = []
    for run_id in ("lnk-key-a", "lnk-key-b"):
        monkeypatch.setenv("FUPIN_API_KEY", server.keys.create(Role.ADMIN).secret)
        source, handle = grpc_source.connect(f"127.0.0.1:{server.port}", timeout_s=30)
        try:
            run, created = source.create_run(
                run_id=run_id,
                kind=produce.PRODUCE_KIND,
                parameters=b"",
                owner="matcher",
                request_id=grpc_source.LINK_ID + "0" * 32,
                fingerprint="",
            )
        finally:
            handle.close()
        made.append((run.id, created))
    assert made == [("lnk-key-a", True), ("lnk-key-b", True)]
