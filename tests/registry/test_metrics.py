"""The Prometheus endpoint, scraped over HTTP after real calls (SQLite and PostgreSQL)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import replace

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.registry import database
from clients import auth
from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import resources_pb2 as pb
from matcher.service.aid_request import inline_request
from registry.access.policy import Role
from server.server import Running, create_server
from server.settings import Settings
from tests import factories
from tests.conftest import BACKENDS, POSTGRES_ADMIN_URL
from tests.matcher.service.test_service import inline_listing, inline_order
from tests.matcher.solvers.test_aid_reference import two_household_problem


@pytest.fixture(params=BACKENDS)
def metered(request, tmp_path) -> Iterator[Running]:
    """A server with /metrics on a free port, on its own database."""
    with database(request.param, POSTGRES_ADMIN_URL) as url:
        settings = Settings(
            database_url=url, address="127.0.0.1:0", metrics_address="127.0.0.1:0", grace_s=1
        )
        running = create_server(settings)
        running.server.start()
        try:
            yield running
        finally:
            running.server.stop(0).wait()
            running.close()


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        body = reply.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def labels(**kw: str) -> frozenset[tuple[str, str]]:
    return frozenset(kw.items())


def test_scrape_counts_rpcs_solves_and_the_pool(metered):
    """Three GetVillage (two NOT_FOUND), one CreateVillage, one MatchProduce: counted by method
    and code, timed, and the run's sizes, duration and gap recorded; the pool is reported."""
    key = metered.keys.create(Role.ADMIN).secret
    with auth.open_channel(f"127.0.0.1:{metered.port}", api_key=key) as channel:
        registry = api_grpc.RegistryServiceStub(channel)
        village = registry.CreateVillage(api.CreateVillageRequest(village=factories.village()))
        registry.GetVillage(api.GetVillageRequest(id=village.id))
        for _ in range(2):
            with pytest.raises(grpc.RpcError):
                registry.GetVillage(api.GetVillageRequest(id="vil-missing"))
        problem = mpb.ProduceProblem(
            listings=[inline_listing("a", 1000), inline_listing("b", 500)],
            orders=[inline_order("o", 1200)],
            today="2020-05-20",
        )
        run = mpb_grpc.MatcherServiceStub(channel).MatchProduce(
            mpb.MatchProduceRequest(inline=problem), timeout=60
        )
    assert run.state == mpb.PROPOSED
    samples = scrape(metered.metrics_port)
    registry_service = "fupin.registry.v1.RegistryService"
    get = {"service": registry_service, "method": "GetVillage"}
    assert samples[("fupin_rpc_handled_total", labels(**get, code="NOT_FOUND"))] == 2
    assert samples[("fupin_rpc_handled_total", labels(**get, code="OK"))] == 1
    assert samples[("fupin_rpc_duration_seconds_count", labels(**get, code="NOT_FOUND"))] == 2
    inf = labels(**get, code="OK", le="+Inf")
    assert samples[("fupin_rpc_duration_seconds_bucket", inf)] == 1
    produce = {"service": "fupin.matcher.v1.MatcherService", "method": "MatchProduce"}
    assert samples[("fupin_rpc_handled_total", labels(**produce, code="OK"))] == 1
    assert samples[("fupin_runs_finished_total", labels(kind="produce", state="PROPOSED"))] == 1
    duration = samples[
        ("fupin_solve_duration_seconds_sum", labels(kind="produce", state="PROPOSED"))
    ]
    assert 0 < duration <= run.timings.total_s + 1e-6
    assert samples[("fupin_solve_size_sum", labels(kind="produce", side="listings"))] == 2
    assert samples[("fupin_solve_size_sum", labels(kind="produce", side="orders"))] == 1
    assert samples[("fupin_solve_gap_ratio_count", labels(kind="produce"))] == 1
    assert samples[("fupin_db_pool_connections", labels(state="checked_out"))] >= 0
    assert samples[("fupin_db_pool_connections", labels(state="size"))] >= 1


def test_aid_and_cadre_runs_are_counted_by_kind(metered):
    """An inline aid run (2 households, 1 programme) and an inline stationing run (2 cadres,
    1 village): each counted as finished with its kind, timed, its gap and sizes recorded."""
    key = metered.keys.create(Role.ADMIN).secret
    here = pb.LatLng(latitude=23.7, longitude=117.2)
    stationing = cpb.StationingProblem(
        cadres=[
            cpb.InlineCadre(id=f"c{i}", rank=3, location=here, max_distance_km=50) for i in (1, 2)
        ],
        villages=[cpb.InlineVillage(id="v1", location=here, team_min=1, team_max=1)],
    )
    params = mpb.SolveParameters(time_limit_s=10, reproducible=True)
    problem = two_household_problem()
    single = replace(problem, programmes=problem.programmes[:1], quotas=(), exclusive_groups=())
    aid_request = inline_request(single)
    aid_request.parameters.CopyFrom(params)
    with auth.open_channel(f"127.0.0.1:{metered.port}", api_key=key) as channel:
        matcher = mpb_grpc.MatcherServiceStub(channel)
        aid = matcher.AllocateAid(aid_request, timeout=60)
        assign = mpb.AssignCadresRequest(inline=stationing, parameters=params)
        cadres = matcher.AssignCadres(assign, timeout=60)
    assert (aid.state, cadres.state) == (mpb.PROPOSED, mpb.PROPOSED)
    samples = scrape(metered.metrics_port)
    for kind, run in (("aid", aid), ("cadre_stationing", cadres)):
        ended = labels(kind=kind, state="PROPOSED")
        assert samples[("fupin_runs_finished_total", ended)] == 1, kind
        assert (
            0 < samples[("fupin_solve_duration_seconds_sum", ended)] <= run.timings.total_s + 1e-6
        )
        assert samples[("fupin_solve_gap_ratio_count", labels(kind=kind))] == 1, kind
    sizes = {("aid", "households"): 2, ("aid", "programmes"): 1,
             ("cadre_stationing", "cadres"): 2, ("cadre_stationing", "villages"): 1}  # fmt: skip
    for (kind, side), size in sizes.items():
        assert samples[("fupin_solve_size_sum", labels(kind=kind, side=side))] == size


def test_metrics_endpoint_is_off_by_default():
    """No metrics_address: no endpoint (the embedded default opens one port only)."""
    assert Settings().metrics_address == ""
