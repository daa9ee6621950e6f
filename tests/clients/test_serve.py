"""`fupin serve` as a real process: health, reflection, and exit 0 on SIGTERM."""

from __future__ import annotations

import os
import subprocess

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from bench.topology import free_port, fupin_command
from tests.stopping import stop


def listed_services(channel: grpc.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = stub.ServerReflectionInfo(iter([request]), timeout=10)
    return [s.name for s in response.list_services_response.service]


@pytest.mark.slow
def test_serve_until_sigterm(tmp_path):
    """The server gets healthy, lists the registry by reflection, and exits 0 on SIGTERM."""
    address = f"127.0.0.1:{free_port()}"
    database = f"sqlite:///{tmp_path / 'fupin.db'}"
    env = {
        **os.environ,
        "FUPIN_LOG_FORMAT": "json",
        "FUPIN_GRACE_S": "1",
        "FUPIN_ADMIN_KEY_FILE": str(tmp_path / "admin.key"),
    }
    command = [*fupin_command(), "serve", "--address", address, "--database-url", database]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            check = health.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=30, wait_for_ready=True
            )
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            assert "fupin.registry.v1.RegistryService" in listed_services(channel)
        assert stop(process) == 0
    finally:
        if process.poll() is None:
            process.kill()
        _, log = process.communicate(timeout=60)  # solver processes may outlive it a while
    assert '"event": "server_stopped"' in log
