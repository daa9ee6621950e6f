"""bench/season.py as a correctness check (no timing): a small run counts no kilogram twice
and leaves the ledger verified; and its audit does see kilograms counted twice."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bench import season as bench
from bench.registry import POSTGRES_ADMIN_URL
from bench.season_audit import double_counted_kg


@pytest.mark.postgres
@pytest.mark.slow
def test_a_small_season_counts_no_kilogram_twice(tmp_path, monkeypatch):
    """300 listings x 20 orders, 8 clients in 2 processes, through a real server process: 100
    shipments by single calls, the rest by batches of 10 racing each other."""
    monkeypatch.chdir(tmp_path)  # the bench's admin key file
    monkeypatch.delenv("FUPIN_API_KEY", raising=False)
    figures = bench.run(300, 20, 8, 2, POSTGRES_ADMIN_URL, 1, batch=10, single=100)
    assert figures["single_shipments"] == 100 < figures["shipments"]
    batched = figures["shipments"] - 100
    assert figures["single_events"] >= 3 * 100  # dispatch, receipt, payment at least
    assert figures["events"] >= 3 * batched
    assert figures["calls"] < figures["events"]  # the batches' events, fewer calls
    assert (figures["double_counted_kg"], figures["ledger_verified"]) == (0, True)


def test_the_audit_sees_kilograms_counted_twice(server, season):
    """A listing whose reserved_kg is 5 kg short of its live shipments: 5 kg released twice."""
    engine = server.store.engine
    url = engine.url.render_as_string(hide_password=False)
    assert double_counted_kg(url) == 0
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE listing SET reserved_kg = reserved_kg - 5 WHERE id = :i"),
            {"i": season.listing_id},
        )
    assert double_counted_kg(url) == 5
