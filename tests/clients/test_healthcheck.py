"""The container HEALTHCHECK (`python -m clients.healthcheck`): exit 0 when SERVING only."""

from __future__ import annotations

from bench.topology import free_port
from clients import healthcheck


def test_a_serving_server_is_healthy(server) -> None:
    """The test server answers SERVING: exit 0."""
    assert healthcheck.main([f"127.0.0.1:{server.port}"]) == 0


def test_no_server_is_unhealthy() -> None:
    """Nothing listening: UNAVAILABLE within the timeout, exit 1."""
    assert healthcheck.main([f"127.0.0.1:{free_port()}"]) == 1
