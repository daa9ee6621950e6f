"""`fupin match produce` and `fupin runs` in-process against a real server."""

from __future__ import annotations

import json

import pytest

from clients.client import BUYERS, HOUSEHOLDS, LISTINGS, ORDERS, PRODUCERS, VILLAGES, RegistryClient
from tests import factories


@pytest.fixture
def market(server):
    """A poor household's 2,000 kg of plums and a plant ordering 1,500 kg."""
    with RegistryClient(f"127.0.0.1:{server.port}", timeout_s=5) as client:
        village = client.create(VILLAGES, factories.village())
        household = client.create(HOUSEHOLDS, factories.household(village.id))
        producer = client.create(PRODUCERS, factories.producer_for(household.id))
        listing = client.create(LISTINGS, factories.listing(producer.id, quantity_kg=2000))
        buyer = client.create(BUYERS, factories.buyer())
        client.create(ORDERS, factories.order(buyer.id, max_quantity_kg=1500))
        yield client, listing


def test_match_produce_and_commit(fupin, market):
    """A match with --commit shows progress, commits, and the listing reserves 1,500 kg."""
    client, listing = market
    code, out, err = fupin(
        "match", "produce", "--product", "green_plum", "--today", "2020-05-10", "--commit"
    )
    assert code == 0, err
    assert "COMMITTED, OPTIMAL" in out
    assert "sold 1,500 kg (1,500 kg by impoverished" in out
    assert "PROPOSED" in err  # the progress lines
    assert client.get(LISTINGS, listing.id).reserved_kg == 1500
    code, out, _ = fupin("runs", "list", "--output", "json")
    assert code == 0
    runs = [json.loads(line) for line in out.splitlines()]
    assert [r["state"] for r in runs] == ["COMMITTED"]


def test_bad_date_names_the_field(fupin, market):
    """A malformed --today is refused by the server, naming selection.today; exit 1."""
    code, _, err = fupin("match", "produce", "--product", "green_plum", "--today", "20-5-10")
    assert code == 1
    assert "selection.today" in err


def test_discard_then_commit_fails(fupin, market):
    """A discarded run cannot be committed: FAILED_PRECONDITION, exit 1."""
    code, out, _ = fupin("match", "produce", "--product", "green_plum", "--today", "2020-05-10")
    run_id = out.split()[1].rstrip(":")
    assert fupin("runs", "discard", run_id)[0] == 0
    code, _, err = fupin("runs", "commit", run_id)
    assert code == 1
    assert "DISCARDED" in err
