"""Errors that always arrive: a request with hundreds of bad fields still gets its
INVALID_ARGUMENT, with the first violations and a count of the rest (registry/errors.py)."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from registry.errors import MAX_VIOLATIONS, FieldViolation, InvalidArgument
from tests.rpcerrors import fields_of, rpc_fails


@pytest.fixture
def matcher(channel):
    return mpb_grpc.MatcherServiceStub(channel)


def _bad_problem(count: int) -> mpb.AllocateAidRequest:
    """Households without a status, one violation each."""
    households = [
        mpb.AidHousehold(id=f"h{i}", village_code="350624001001", score=40) for i in range(count)
    ]
    programme = mpb.AidProgramme(id="p", budget_fen=1000, amount_fen=100)
    problem = mpb.AidInlineProblem(households=households, programmes=[programme])
    return mpb.AllocateAidRequest(inline=problem)


def _fails(matcher, count: int) -> grpc.RpcError:
    return rpc_fails(
        lambda: matcher.AllocateAid(_bad_problem(count), timeout=30),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


def test_hundreds_of_violations_arrive_capped(matcher):
    """600 bad households answer INVALID_ARGUMENT (not RESOURCE_EXHAUSTED: Stream removed) with
    the first MAX_VIOLATIONS violations, then one naming how many more, in under 8 KB."""
    error = _fails(matcher, 600)
    fields = fields_of(error)
    assert fields[:MAX_VIOLATIONS] == [
        f"inline.households[{i}].status" for i in range(MAX_VIOLATIONS)
    ]
    assert fields[MAX_VIOLATIONS:] == ["..."]
    status = rpc_status.from_call(error)
    assert status is not None and len(status.SerializeToString()) < 8192
    bad = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad)
    assert bad.field_violations[-1].description.startswith(f"+{600 - MAX_VIOLATIONS} more")


def test_exactly_the_limit_shows_every_violation(matcher):
    """MAX_VIOLATIONS violations are all shown with no count; one more adds the count."""
    at_limit = fields_of(_fails(matcher, MAX_VIOLATIONS))
    assert len(at_limit) == MAX_VIOLATIONS and "..." not in at_limit
    over = fields_of(_fails(matcher, MAX_VIOLATIONS + 1))
    assert len(over) == MAX_VIOLATIONS + 1 and over[-1] == "..."


def test_long_fields_are_cut_to_fit():
    """Violations with huge paths and descriptions are cut so the status stays small."""
    error = InvalidArgument([FieldViolation("x" * 100_000, "y" * 100_000)] * 500)
    status = error.to_status()
    assert len(status.SerializeToString()) < 8192
    assert len(status.message.encode()) < 1024
    bad = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad)
    assert (
        bad.field_violations[0].field.startswith("xxx") and bad.field_violations[-1].field == "..."
    )
