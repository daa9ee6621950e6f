"""ProduceProblem.listing_columns: an inline problem's listings as columns.

The same problem as its listings sent as messages (the model's columns compare equal, and a
real server answers the same run); each bad entry is INVALID_ARGUMENT naming the column and
the entry, and nothing is stored; the input limits and the size limit count the columns.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from clients.matcher_client import listing_columns
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from matcher.service import convert_produce as convert
from matcher.solvers.common.solving import Objective
from matcher.solvers.produce import PovertyClass
from registry.errors import InvalidArgument
from tests.rpcerrors import fields_of, rpc_fails, violations

ZH = [("accept-language", "zh-CN,zh;q=0.9,en;q=0.5")]
CLASSES = [mpb.IMPOVERISHED, mpb.AT_RISK, mpb.RETURNED, mpb.LIFTED_OUT, mpb.NOT_POOR]


def messages_problem(n: int = 40, m: int = 4, seed: int = 3) -> mpb.ProduceProblem:
    """Households and cooperatives (mixed shares, one listing with none), two grades, two
    products, a lane: every field of a listing varies."""
    rng = np.random.default_rng(seed)
    listings = []
    for i in range(n):
        listing = mpb.InlineListing(
            id=f"L{i}",
            product="green_plum" if i % 7 else "lychee",
            grade="AB"[i % 3 == 0],
            quantity_kg=int(rng.integers(100, 3000)),
            floor_price_fen=int(rng.integers(80, 180)),
            location={
                "latitude": float(rng.normal(23.9, 0.2)),
                "longitude": float(rng.normal(117.1, 0.2)),
            },
            available_from=f"2020-05-{1 + i % 9:02d}",
            available_until=f"2020-06-{10 + i % 11:02d}",
            shelf_life_days=int(rng.integers(0, 30)),
        )
        if i % 5 == 4:  # a cooperative: its members by their shares
            listing.shares.add(poverty_class=mpb.AT_RISK, share_permille=400)
            listing.shares.add(poverty_class=mpb.NOT_POOR, share_permille=600)
        elif i != 11:  # listing 11: no shares at all (not poor)
            listing.shares.add(poverty_class=CLASSES[i % 5], share_permille=1000)
        listings.append(listing)
    orders = [
        mpb.InlineOrder(
            id=f"O{j}",
            product="green_plum" if j else "lychee",
            accepted_grades=["A", "B"] if j % 2 else ["A"],
            max_quantity_kg=int(rng.integers(2000, 20000)),
            price_fen=int(rng.integers(250, 400)),
            location={"latitude": 23.3 + j / 10, "longitude": 116.2 + j / 10},
            deliver_by="2020-07-31",
        )
        for j in range(m)
    ]
    lane = mpb.Lane(listing_id="L2", order_id="O1", cost_fen_per_kg=4, transit_days=2)
    return mpb.ProduceProblem(listings=listings, orders=orders, lanes=[lane], today="2020-05-10")


def as_columns(p: mpb.ProduceProblem) -> mpb.ProduceProblem:
    out = mpb.ProduceProblem()
    out.CopyFrom(p)
    del out.listings[:]
    out.listing_columns.CopyFrom(listing_columns(p.listings))
    return out


def violation(p: mpb.ProduceProblem) -> tuple[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        convert.inline_problem(p, Objective.WELFARE)
    (v,) = caught.value.violations
    return v.field, v.description


def test_columns_are_the_problem_the_messages_make():
    p = messages_problem()
    columns = as_columns(p)
    assert len(columns.listing_columns.share_sets) == 6  # 5 classes, 1 cooperative, 1 none
    for goal in Objective:
        from_messages = convert.inline_problem(p, goal)
        from_columns = convert.inline_problem(columns, goal)
        assert from_columns == from_messages
    got = convert.inline_problem(columns, Objective.WELFARE)
    shares = [got.share_kinds[k] for k in got.listings.shares]
    assert shares[4] == ((PovertyClass.AT_RISK, 0.4), (PovertyClass.NOT_POOR, 0.6))
    assert shares[11] == ((PovertyClass.NOT_POOR, 1.0),)
    assert got.listings.lat.tolist() == [x.location.latitude for x in p.listings]


def test_an_empty_column_is_its_fields_default_for_every_listing():
    """Grade, floor, shelf life and shares left out: as InlineListing fields left unset."""
    p = messages_problem(n=6, m=2)
    for listing in p.listings:
        listing.ClearField("grade")
        listing.ClearField("floor_price_fen")
        listing.ClearField("shelf_life_days")
        del listing.shares[:]
    columns = as_columns(p)
    for name in ("grade", "floor_price_fen", "shelf_life_days", "share_set", "share_sets"):
        columns.listing_columns.ClearField(name)
    got = convert.inline_problem(columns, Objective.WELFARE)
    assert got == convert.inline_problem(p, Objective.WELFARE)
    assert got.listings.floor.tolist() == [0] * 6
    assert got.share_kinds == (((PovertyClass.NOT_POOR, 1.0),),)


def set_entry(p: mpb.ProduceProblem, column: str, i: int, value: object) -> mpb.ProduceProblem:
    values = list(getattr(p.listing_columns, column))
    values[i] = value
    p.listing_columns.ClearField(column)
    getattr(p.listing_columns, column).extend(values)
    return p


@pytest.mark.parametrize(
    ("column", "entry", "value", "field"),
    [
        ("quantity_kg", 5, -1, "inline.listing_columns.quantity_kg[5]"),
        ("floor_price_fen", 9, 10**15, "inline.listing_columns.floor_price_fen[9]"),
        ("latitude", 6, 99.0, "inline.listing_columns.latitude[6]"),
        ("longitude", 7, float("nan"), "inline.listing_columns.longitude[7]"),
        ("available_from", 2, "May 1st", "inline.listing_columns.available_from[2]"),
        ("available_until", 3, "2020-04-01", "inline.listing_columns.available_until[3]"),
        ("shelf_life_days", 8, -3, "inline.listing_columns.shelf_life_days[8]"),
        ("id", 12, "L3", "inline.listing_columns.id[12]"),
        ("id", 0, "", "inline.listing_columns.id[0]"),
        ("share_set", 13, 6, "inline.listing_columns.share_set[13]"),
        ("share_set", 14, -1, "inline.listing_columns.share_set[14]"),
    ],
)
def test_a_bad_entry_is_named_by_column_and_index(column, entry, value, field):
    p = set_entry(as_columns(messages_problem()), column, entry, value)
    assert violation(p)[0] == field


def test_bad_share_sets_and_lengths_are_named():
    p = as_columns(messages_problem())
    p.listing_columns.share_sets[1].shares[0].poverty_class = 42  # type: ignore[assignment]
    assert violation(p)[0] == "inline.listing_columns.share_sets[1].shares[0].poverty_class"
    p = as_columns(messages_problem())
    p.listing_columns.share_sets[3].shares[0].share_permille = 999  # used by listings 3, 8, ...
    field, description = violation(p)
    assert field == "inline.listing_columns.share_sets[3].shares"
    assert description.startswith("fractions must sum to 1")
    p = as_columns(messages_problem())
    p.listing_columns.grade.pop()
    assert violation(p) == ("inline.listing_columns.grade", "must have 40 entries")
    p = as_columns(messages_problem())
    p.listing_columns.ClearField("share_sets")
    assert violation(p)[0] == "inline.listing_columns.share_sets"
    p = as_columns(messages_problem())  # more sets than listings: refused before any is read
    p.listing_columns.share_sets.extend([mpb.PovertyShares()] * 41)
    assert violation(p) == ("inline.listing_columns.share_sets", "must have at most 40 elements")


def test_listings_and_columns_together_are_refused():
    p = as_columns(messages_problem())
    p.listings.add().CopyFrom(messages_problem().listings[0])
    assert violation(p) == (
        "inline.listing_columns",
        "set either listings or listing_columns, not both",
    )


@pytest.fixture
def matcher(channel):
    return mpb_grpc.MatcherServiceStub(channel)


def test_a_server_answers_the_same_run_for_either_form(matcher):
    p = messages_problem(n=300, m=12)
    runs = [
        matcher.MatchProduce(mpb.MatchProduceRequest(inline=problem), timeout=60)
        for problem in (p, as_columns(p))
    ]
    assert [run.state for run in runs] == [mpb.PROPOSED] * 2
    assert runs[0].objective == runs[1].objective > 0
    assert runs[0].produce.allocations == runs[1].produce.allocations
    assert runs[0].produce.unsold == runs[1].produce.unsold
    assert runs[0].produce.kpis == runs[1].produce.kpis


def test_bad_columns_over_a_server_store_nothing_and_are_said_in_chinese(matcher):
    p = as_columns(messages_problem())
    p.listings.add().CopyFrom(messages_problem().listings[0])
    error = rpc_fails(
        lambda: matcher.MatchProduce(mpb.MatchProduceRequest(inline=p), timeout=30, metadata=ZH),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    (violation,) = violations(error)
    assert violation.field == "inline.listing_columns"
    assert violation.localized_message.message == "listings 与 listing_columns 只能设置其一"
    long = set_entry(as_columns(messages_problem()), "grade", 17, "A" * 1001)
    error = rpc_fails(
        lambda: matcher.MatchProduce(mpb.MatchProduceRequest(inline=long), timeout=30),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["inline.listing_columns.grade[17]"]
    assert not matcher.ListMatchRuns(mpb.ListMatchRunsRequest()).runs


def test_the_size_limit_counts_the_columns(matcher):
    """200,001 listings as columns: RESOURCE_EXHAUSTED, as 200,001 messages would be."""
    n = 200_001
    columns = mpb.InlineListingColumns(
        id=[f"L{i}" for i in range(n)], quantity_kg=np.full(n, 10).tolist()
    )
    p = mpb.ProduceProblem(listing_columns=columns, today="2020-05-10")
    error = rpc_fails(
        lambda: matcher.MatchProduce(mpb.MatchProduceRequest(inline=p), timeout=60),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    assert (error.details() or "").endswith("listings per run (max_problem_listings), got 200001")
