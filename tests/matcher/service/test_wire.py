"""Repeated messages written from columns (matcher/service/wire.py) against the protobuf
runtime's own serialisation: the same bytes, row by row, for any values, and a produce result
message equal to the one built message by message."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from bench.produce import problem as bench_problem
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import wire
from matcher.service.convert_produce import inline_problem, produce_kpis, produce_result
from matcher.solvers import produce
from matcher.solvers.common.solving import Objective
from tests.matcher.solvers.produce_reference import instances

FIELDS = mpb.ProduceResult.DESCRIPTOR.fields_by_name
EDGES = [0, 1, 127, 128, 16_383, 16_384, 2**40, -1, -(2**63), 2**63 - 1]
FLOATS = [0.0, -0.0, 1.5, -3.25, 1e300, 5e-324, float("inf"), float("nan")]
LETTERS = list("aZ0_-中é\x00\t")


@pytest.mark.parametrize("seed", range(40))
def test_rows_serialise_as_the_runtime_does(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 40))
    words = ["".join(rng.choice(LETTERS, int(rng.integers(0, 5)))) for _ in range(8)]
    index = rng.integers(0, len(words), n)
    ids = [str(w) for w in rng.choice(words, n)]
    kg, fen = rng.choice(EDGES, n), rng.choice(EDGES, n)
    reason = rng.integers(0, 5, n)
    price = rng.choice(FLOATS, n)
    expected = mpb.ProduceResult()
    for i in range(n):
        expected.unsold.add(
            listing_id=words[index[i]],
            unsold_kg=int(kg[i]),
            reason=int(reason[i]),
            would_sell_at_floor_fen=int(fen[i]),
        )
        expected.orders.add(order_id=ids[i], filled_kg=int(kg[i]), shadow_price_fen=price[i])
    unsold = {
        "listing_id": (words, index),
        "unsold_kg": kg,
        "reason": reason,
        "would_sell_at_floor_fen": fen,
    }
    orders = {"order_id": ids, "filled_kg": kg, "shadow_price_fen": price}
    written = wire.repeated(FIELDS["unsold"], n, unsold) + wire.repeated(
        FIELDS["orders"], n, orders
    )
    got = mpb.ProduceResult.FromString(written)
    assert got.SerializeToString() == expected.SerializeToString()


def test_only_scalars_and_strings():
    with pytest.raises(TypeError, match="kpis"):
        wire.repeated(mpb.MatchRun.DESCRIPTOR.fields_by_name["produce"], 1, {"kpis": [1]})


def expected_message(result: produce.ProduceResult) -> mpb.ProduceResult:
    """The result message built message by message from the result's rows."""
    out = mpb.ProduceResult(arcs=result.arcs, exact=result.method == "cp_sat")
    for a in result.allocations:
        out.allocations.add(
            listing_id=a.listing_id,
            order_id=a.order_id,
            kg=a.kg,
            price_fen=a.price_fen,
            transport_fen=a.transport_fen,
            floor_fen=a.floor_fen,
            bonus_fen=a.bonus_fen,
            value_fen=a.price_fen - a.transport_fen - a.floor_fen + a.bonus_fen,
            distance_km=a.road_km,
        )
    for u in result.unsold:
        out.unsold.add(
            listing_id=u.listing_id,
            unsold_kg=u.unsold_kg,
            reason=mpb.UnsoldReason.Value(u.reason.value),
            would_sell_at_floor_fen=u.would_sell_at_floor_fen or 0,
        )
    for o in result.orders:
        out.orders.add(
            order_id=o.order_id, filled_kg=o.filled_kg, shadow_price_fen=o.shadow_price_fen or 0
        )
    out.kpis.CopyFrom(produce_kpis(result.kpis))
    return out


@settings(max_examples=60, deadline=None)
@given(instances(exact=False))
def test_result_message_is_the_one_built_row_by_row(p):
    result = produce.solve(p)
    assert produce_result(result) == expected_message(result)


@pytest.mark.parametrize("objective", list(Objective))
def test_bench_sized_result_message(objective):
    """Hundreds of rows, ids of every length, both objectives."""
    request = bench_problem(600, 12, seed=5)
    result = produce.solve(inline_problem(request, objective))
    assert len(result.allocations) > 12 and len(result.unsold) > 12
    message = produce_result(result)
    assert message == expected_message(result)
    assert message.SerializeToString() == expected_message(result).SerializeToString()
