"""`fupin serve` on a fresh database prints its first admin key once and keeps it in a file
only its user can read; clients using that file get in, clients without a key do not."""

from __future__ import annotations

import os
import stat
import subprocess

import grpc
import pytest

from clients.auth import open_channel
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from tests.clients.test_serve import free_port, fupin_command
from tests.rpcerrors import rpc_fails
from tests.stopping import stop


def serve_once(tmp_path, env) -> str:
    """Start fupin serve, wait until it answers, stop it; its stdout."""
    address = f"127.0.0.1:{free_port()}"
    command = [*fupin_command(), "serve", "--address", address]
    out = tmp_path / "stdout.txt"
    # A file, not a pipe: the server's solver processes may hold a pipe open after it exits.
    with out.open("w") as stdout:
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=subprocess.DEVNULL)
    try:
        with grpc.insecure_channel(address) as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
            stub = api_grpc.RegistryServiceStub(channel)
            rpc_fails(
                lambda: stub.ListVillages(api.ListVillagesRequest(), timeout=10),
                grpc.StatusCode.UNAUTHENTICATED,
            )
        key = (tmp_path / "admin.key").read_text().strip()
        with open_channel(address, api_key=key) as channel:
            api_grpc.RegistryServiceStub(channel).ListVillages(
                api.ListVillagesRequest(), timeout=10
            )
        assert stop(process) == 0
    finally:
        if process.poll() is None:
            process.kill()
    return out.read_text()


@pytest.mark.slow
def test_first_start_prints_the_admin_key_once(tmp_path):
    """The first start prints the key that the file holds (mode 600); the second prints none."""
    env = {
        **os.environ,
        "FUPIN_DATABASE_URL": f"sqlite:///{tmp_path / 'fupin.db'}",
        "FUPIN_ADMIN_KEY_FILE": str(tmp_path / "admin.key"),
        "FUPIN_LOG_LEVEL": "warning",
        "FUPIN_GRACE_S": "1",
    }
    first = serve_once(tmp_path, env)
    key = (tmp_path / "admin.key").read_text().strip()
    assert first.strip() == key and key.startswith("fupin_")
    assert stat.S_IMODE((tmp_path / "admin.key").stat().st_mode) == 0o600
    assert serve_once(tmp_path, env).strip() == ""
