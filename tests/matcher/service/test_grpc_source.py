"""RegistrySource over gRPC answers exactly as the in-process one, errors included."""

from __future__ import annotations

import inspect
import typing

import pytest

from clients import scenario
from clients.cli import demo as cli_demo
from matcher.service.source import Allocation, RegistrySource, RunState
from registry import errors
from registry.resources import query
from registry.runs.scopes import RunView
from server import grpc_source, listing_columns
from server.sources import InProcessSource


def test_every_protocol_method_has_an_rpc():
    """Each RegistrySource method has its RPC, with a request field per parameter and a
    response shaped like its return value (a method added without them fails here)."""
    methods = grpc_source.protocol_methods()
    assert "open_listings" in methods and "commit_produce" in methods
    assert {"aid_inputs", "store_grants", "commit_aid", "commit_cadres"} <= set(methods)
    everything = {n for n in vars(RegistrySource) if not n.startswith("_")}
    assert everything == set(methods), "a RegistrySource method without an RPC"
    for method in methods:
        descriptor = grpc_source.rpc(method)
        params = inspect.signature(getattr(RegistrySource, method)).parameters
        wanted = {name for name in params if name != "self"}
        assert {f.name for f in descriptor.input_type.fields} == wanted, method
        returns = typing.get_type_hints(getattr(RegistrySource, method))["return"]
        if descriptor.server_streaming:  # a stream of chunks of its value
            assert method in grpc_source.STREAMED, method
            continue
        if returns is type(None):
            arity = 0
        elif typing.get_origin(returns) is tuple:
            arity = len(typing.get_args(returns))
        else:
            arity = 1
        assert len(descriptor.output_type.fields) == arity, method
    rpcs = {m.name for m in grpc_source.SERVICE.methods}
    assert rpcs == {grpc_source.rpc_name(m) for m in methods}, "an RPC no method maps to"


def test_reads_and_request_id_writes_are_retried():
    """The channel retries reads, request_id-keyed writes and the writes that replace a run's
    outcome (update_run included)."""
    assert grpc_source.retried("open_listings") and grpc_source.retried("get_run")
    assert grpc_source.retried("create_run") and grpc_source.retried("commit_produce")
    assert grpc_source.retried("update_run") and grpc_source.retried("discard_run")
    assert grpc_source.retried("aid_inputs") and grpc_source.retried("stationing_data")
    assert grpc_source.retried("contracting_data") and grpc_source.retried("commit_aid")
    assert grpc_source.retried("commit_cadres")
    assert grpc_source.retried("store_grants") and grpc_source.retried("finish_cadre_run")


@pytest.fixture
def sources(server, registry):
    """(over gRPC, in process) over the demo scenario, loaded through the API."""
    cli_demo.load(registry, scenario.build())
    remote, handle = grpc_source.connect(f"127.0.0.1:{server.port}", timeout_s=30)
    yield remote, InProcessSource(server.store)
    handle.close()


def test_reads_match_in_process(sources):
    """Open listings (with poverty shares), open orders and the supply fingerprint agree."""
    remote, local = sources
    listings = remote.open_listings(product="green_plum", region_code="", today=cli_demo.TODAY)
    assert listings and any(x.shares for x in listings)
    assert listings == local.open_listings(
        product="green_plum", region_code="", today=cli_demo.TODAY
    )
    orders = remote.open_orders(product="green_plum", today=cli_demo.TODAY)
    assert orders and orders == local.open_orders(product="green_plum", today=cli_demo.TODAY)
    assert remote.supply_generation() == local.supply_generation()


def test_listing_columns_stream_as_the_records(sources):
    """OpenListingColumns's stream brings the listings the in-process record read gives, for
    every filter (shares, held kilograms and coarse points included)."""
    remote, local = sources
    for product, region, today in [
        ("green_plum", "", cli_demo.TODAY),
        ("", "", ""),
        ("green_plum", "44", ""),
        ("no_such_product", "", ""),
    ]:
        columns = remote.open_listing_columns(product=product, region_code=region, today=today)
        records = local.open_listings(product=product, region_code=region, today=today)
        assert columns.records() == records, (product, region, today)
        if not product:
            assert len(columns.share_kinds) > 1 and any(x.shares for x in records)


def test_listing_columns_travel_in_bounded_chunks(sources):
    """A selection streams as chunks of at most `size` listings, the share kinds in the first;
    joined, they are the columns sent."""
    _, local = sources
    columns = local.open_listing_columns(product="", region_code="", today="")
    assert len(columns) > 3
    messages = list(listing_columns.chunks(columns, size=3))
    assert len(messages) == -(-len(columns) // 3)
    assert max(len(m.id) for m in messages) == 3
    assert len(messages[0].share_kinds) == len(columns.share_kinds) > 1
    assert not any(m.share_kinds for m in messages[1:])
    assert listing_columns.joined(messages).records() == columns.records()
    empty = local.open_listing_columns(product="no_such_product", region_code="", today="")
    assert listing_columns.joined(listing_columns.chunks(empty)).records() == []


def test_run_lifecycle_matches_in_process(sources):
    """Create (and its replay), update with allocations, get, list by state, commit twice."""
    remote, local = sources
    listing = remote.open_listings(product="green_plum", region_code="", today="")[0]
    order = remote.open_orders(product="green_plum", today="")[0]
    run, created = remote.create_run(
        run_id="wire-1",
        kind=1,
        parameters=b"\x08\x01",
        owner="me",
        request_id="r1",
        fingerprint="f",
    )
    assert created and run.state == RunState.QUEUED and run.create_time.tzinfo is not None
    again, created = remote.create_run(
        run_id="wire-1",
        kind=1,
        parameters=b"\x08\x01",
        owner="me",
        request_id="r1",
        fingerprint="f",
    )
    assert not created and again.id == "wire-1"
    done = remote.update_run(
        "wire-1",
        allocations=[Allocation(listing.id, order.id, 1)],
        state=RunState.PROPOSED,
        objective=7,
        gap=0.0,
        result=b"xyz",
    )
    assert (done.state, done.objective, done.result, done.version) == (3, 7, b"xyz", 2)
    assert remote.get_run("wire-1") == local.get_run("wire-1")
    page = query.parse_page(10, "", "")
    proposed, token = remote.list_runs(page=page, where={"state": RunState.PROPOSED})
    assert [r.id for r in proposed] == ["wire-1"] and token == ""
    assert remote.list_runs(page=page, where={"state": RunState.FAILED}) == ([], "")
    committed = remote.commit_produce("wire-1", request_id="c1", etag='"2"')
    assert committed.state == RunState.COMMITTED
    replay = remote.commit_produce("wire-1", request_id="c1", etag='"2"')
    assert replay.version == committed.version  # the retry applied nothing twice
    after = local.open_listings(product="green_plum", region_code="", today="")
    assert next(x for x in after if x.id == listing.id).available_kg == listing.available_kg - 1


def test_errors_come_back_as_the_registrys(sources):
    """NOT_FOUND keeps its field, FAILED_PRECONDITION and ABORTED their type."""
    remote, _ = sources
    with pytest.raises(errors.NotFound) as missing:
        remote.get_run("nope-0")
    assert missing.value.field == "id"
    remote.create_run(
        run_id="wire-2", kind=1, parameters=b"", owner="me", request_id="", fingerprint=""
    )
    with pytest.raises(errors.FailedPrecondition):
        remote.discard_run("wire-2", etag="")
    with pytest.raises(errors.Aborted):
        remote.commit_produce("wire-2", request_id="", etag='"99"')


def test_run_views_and_scopes_travel_over_the_wire(sources):
    """A run's scope, and the caller's view in get and list, mean the same over gRPC."""
    remote, local = sources
    runs = (("wire-aid", 2, "350624"), ("wire-produce", 1, ""), ("wire-buyer", 1, "buy-1"))
    for run_id, kind, scope in runs:
        remote.create_run(
            run_id=run_id, kind=kind, parameters=b"", owner="me", request_id="",
            fingerprint="", scope=scope,
        )  # fmt: skip
    assert remote.get_run("wire-aid").scope == "350624"
    page = query.parse_page(10, "", "")
    views = [
        RunView(kinds=(1,)),
        RunView(kinds=(2, 3, 4), region="350624"),
        RunView(kinds=(2, 3, 4), region="445281"),
        RunView(region="3506"),
        RunView(kinds=(1,), owner="buy-1"),  # a platform's: its own produce runs only
    ]
    for view in views:
        over_wire = remote.list_runs(page=page, where={}, view=view)
        assert over_wire == local.list_runs(page=page, where={}, view=view), view
    assert [r.id for r in remote.list_runs(page=page, where={}, view=views[0])[0]] == [
        "wire-produce",
        "wire-buyer",
    ]
    assert [r.id for r in remote.list_runs(page=page, where={}, view=views[4])[0]] == ["wire-buyer"]
    with pytest.raises(errors.NotFound):
        remote.get_run("wire-produce", view=views[4])
    assert remote.list_runs(page=page, where={}, view=views[2]) == ([], "")
    with pytest.raises(errors.NotFound):
        remote.get_run("wire-aid", view=views[0])
    with pytest.raises(errors.NotFound):
        remote.get_run("wire-aid", view=views[2])
    assert remote.get_run("wire-aid", view=views[3]).id == "wire-aid"
