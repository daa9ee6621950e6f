"""What a hostile caller sends is INVALID_ARGUMENT naming the field, never INTERNAL or
UNAVAILABLE, and stores nothing: unknown enum numbers, huge region codes, dates in other
spellings, garbage to the internal MatcherStoreService."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy import text

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import internal_service_pb2 as ipb
from fupin.registry.v1 import internal_service_pb2_grpc as ipb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from tests import factories
from tests.matcher.service.test_service import inline_listing, inline_order
from tests.rpcerrors import fields_of, rpc_fails


@pytest.fixture
def matcher(channel):
    return mpb_grpc.MatcherServiceStub(channel)


def _invalid(call, field: str) -> None:
    error = rpc_fails(call, grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == [field]


def test_unknown_poverty_class_names_the_share(matcher):
    """poverty_class 99 in an inline listing names inline.listings[0].shares[0].poverty_class."""
    listing = inline_listing("a", 100)
    listing.shares[0].poverty_class = 99  # type: ignore[assignment]
    problem = mpb.ProduceProblem(
        listings=[listing], orders=[inline_order("o", 10)], today="2020-05-10"
    )
    _invalid(
        lambda: matcher.MatchProduce(mpb.MatchProduceRequest(inline=problem), timeout=30),
        "inline.listings[0].shares[0].poverty_class",
    )


def test_huge_region_code_is_invalid_not_unavailable(matcher):
    """A 1 MiB selection.region_code is INVALID_ARGUMENT (UNAVAILABLE, which clients retry,
    came from SQLite refusing the query); letters are refused too."""
    for region in ("3" * (1 << 20), "35x", "٣٥"):
        selection = mpb.RegistrySelection(
            product="green_plum", region_code=region, today="2020-05-10"
        )
        _invalid(
            lambda s=selection: matcher.MatchProduce(
                mpb.MatchProduceRequest(selection=s), timeout=30
            ),
            "selection.region_code",
        )


@pytest.mark.parametrize(
    "spelling", ["2020-W19-7", "2020-W01-1", "20200510", "2020-5-10", "2020-05-10T00"]
)
def test_dates_only_in_one_spelling(matcher, registry, spelling):
    """ISO week dates, basic format and the like are refused both inline and in the registry."""
    problem = mpb.ProduceProblem(
        listings=[inline_listing("a", 100)], orders=[inline_order("o", 10)], today=spelling
    )
    _invalid(
        lambda: matcher.MatchProduce(mpb.MatchProduceRequest(inline=problem), timeout=30),
        "inline.today",
    )
    buyer = registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer()))
    order = factories.order(buyer.id)
    order.deliver_by = spelling
    _invalid(lambda: registry.CreateOrder(api.CreateOrderRequest(order=order)), "order.deliver_by")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"parameters": b"\xff\xff\xff"}, "parameters"),
        ({"kind": 99}, "kind"),
        ({"run_id": "x" * 500}, "run_id"),
        ({"scope": "35abc"}, "scope"),
        ({"request_id": "bad id!"}, "request_id"),
    ],
)
def test_internal_create_run_refuses_garbage(channel, matcher, fields, named):
    """A garbage CreateRun to the internal service is refused before it is stored, so
    ListMatchRuns keeps answering for everyone."""
    store = ipb_grpc.MatcherStoreServiceStub(channel)
    request = ipb.CreateRunRequest(run_id="run-garbage", kind=1, owner="someone")
    for name, value in fields.items():
        setattr(request, name, value)
    _invalid(lambda: store.CreateRun(request), named)
    assert not matcher.ListMatchRuns(mpb.ListMatchRunsRequest()).runs


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"household_ids": ["hh 1"]}, "household_ids[0]"),
        ({"household_ids": ["hh-1"], "county_codes": ["35062"]}, "county_codes[0]"),
        ({"household_ids": []}, "household_ids"),
        ({"household_ids": ["hh-1"], "rpc": "/m" * 61}, "rpc"),
        (
            {"household_ids": ["hh-1"], "reader": ipb.Principal(key_id="k", role="root")},
            "reader.role",
        ),
    ],
)
def test_internal_record_audit_refuses_garbage(channel, server, fields, named):
    """RecordAudit (a split matcher's audit events) names the bad field and stores nothing."""
    store = ipb_grpc.MatcherStoreServiceStub(channel)
    request = ipb.RecordAuditRequest(
        reader=ipb.Principal(key_id="k-1", role="office"),
        rpc="/fupin.matcher.v1.MatcherService/GetMatchRun",
    )
    for name, value in fields.items():
        if name in ("household_ids", "county_codes"):
            getattr(request, name).extend(value)
        elif name == "reader":
            request.reader.CopyFrom(value)
        else:
            setattr(request, name, value)
    _invalid(lambda: store.RecordAudit(request), named)
    server.audit_writer.flush()
    with server.store.engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM audit_event WHERE key_id = 'k-1'"))
        assert stored.scalar_one() == 0
