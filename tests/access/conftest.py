"""Fixtures of the access-control tests: a channel without any key, and the two-county world."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from tests.access import world as world_module


@pytest.fixture
def bare(server) -> Iterator[grpc.Channel]:
    """A channel that sends no key of its own (tests put one in each call's metadata)."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


@pytest.fixture
def world(registry, server) -> world_module.World:
    return world_module.build(registry, server)
