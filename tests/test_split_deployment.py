"""The docker-compose topology as processes: PostgreSQL, `--only registry`, `--only matcher`."""

from __future__ import annotations

import os
import re
import subprocess
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import create_engine, text

from bench.registry import database
from bench.topology import Topology, fupin_command, wait_serving
from tests.clients.test_serve import listed_services
from tests.conftest import POSTGRES_ADMIN_URL

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, 2


def wait_status(address: str, status: int, timeout_s: float) -> None:
    if status == SERVING:
        wait_serving(address, timeout_s)
        return
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + timeout_s
        while stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status != status:
            assert time.monotonic() < deadline, f"{address} never became {status}"
            time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.postgres
def test_demo_runs_through_registry_and_matcher_apart(tmp_path):
    """The demo loads through the registry process, matches and commits through the matcher
    process; the database holds exactly one committed run whose allocations are reserved. The
    matcher is NOT_SERVING while the registry is down and SERVING when it is back. The matcher
    runs at the niceness asked for (bench/load.py gives it a larger CPU weight)."""
    with database("postgres", POSTGRES_ADMIN_URL) as url:
        with Topology(url, tmp_path / "logs", matcher_nice=3) as topology:
            assert topology.matcher.process is not None and topology.registry.process is not None
            matcher_nice = os.getpriority(os.PRIO_PROCESS, topology.matcher.process.pid)
            registry_nice = os.getpriority(os.PRIO_PROCESS, topology.registry.process.pid)
            with grpc.insecure_channel(topology.matcher.address) as channel:
                matcher_services = listed_services(channel)
            with grpc.insecure_channel(topology.registry.address) as channel:
                registry_services = listed_services(channel)
            demo = subprocess.run(
                [
                    *fupin_command(),
                    "demo",
                    "--target",
                    topology.registry.address,
                    "--matcher-target",
                    topology.matcher.address,
                    "--out",
                    str(tmp_path / "out"),
                ],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert demo.returncode == 0, demo.stderr
            topology.registry.kill()  # the matcher's health follows the registry's
            wait_status(topology.matcher.address, NOT_SERVING, 15)
            topology.registry.start()
            wait_status(topology.matcher.address, SERVING, 15)
            assert topology.matcher.stop() == 0 and topology.registry.stop() == 0
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            states = conn.execute(text("SELECT state FROM match_run")).scalars().all()
            allocated = conn.execute(text("SELECT sum(kg) FROM run_allocation")).scalar()
            reserved = conn.execute(text("SELECT sum(reserved_kg) FROM listing")).scalar()
            ledger = conn.execute(
                text("SELECT sum(quantity) FROM ledger_entry WHERE kind = 'produce_commit'")
            ).scalar()
            received = conn.execute(text("SELECT count(*) FROM shipment WHERE state = 3")).scalar()
        engine.dispose()
    assert matcher_nice == min(registry_nice + 3, 19)
    assert "fupin.matcher.v1.MatcherService" in matcher_services
    assert "fupin.registry.v1.RegistryService" not in matcher_services
    assert "fupin.registry.v1.RegistryService" in registry_services
    assert "fupin.matcher.v1.MatcherService" not in registry_services
    assert "committed run" in demo.stdout and "tonnes by buyer" in demo.stdout
    assert states == [4, 4]  # the produce run and the demo's medical-aid run, COMMITTED
    assert received and f"{received} shipments received" in demo.stdout  # the season went on
    assert allocated and allocated == reserved == ledger
    assert (tmp_path / "out" / "demo_flows.png").exists()


def test_container_files_configure_real_settings(repo_root):
    """Every FUPIN_* variable the Dockerfile and docker-compose.yml set is a setting, and
    compose runs the registry and the matcher apart with gRPC health checks."""
    from server.settings import Settings
    from web.settings import WebSettings

    compose = (repo_root / "docker-compose.yml").read_text()
    dockerfile = (repo_root / "Dockerfile").read_text()
    names = set(re.findall(r"(?<![{\w])FUPIN_([A-Z_]+)\s*[:=]", compose + dockerfile))
    assert {"ONLY", "REGISTRY_TARGET", "DATABASE_URL", "METRICS_ADDRESS"} <= names
    web = {n for n in names if n.startswith("WEB_")}  # the console's (web/settings.py)
    client = {"API_KEY", "API_KEY_FILE"}  # a caller's key (clients/auth.py)
    images = {n for n in names if n.endswith("_IMAGE")}  # compose's base-image choices
    assert {n.lower() for n in names - web - client - images} <= set(Settings.model_fields)
    assert {n.lower().removeprefix("web_") for n in web} <= set(WebSettings.model_fields)
    assert "FUPIN_ONLY: registry" in compose and "FUPIN_ONLY: matcher" in compose
    assert '"clients.healthcheck"' in dockerfile
