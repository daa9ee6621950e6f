"""The split deployment as local processes: `fupin serve --only registry` and `--only matcher`.

The same topology as docker-compose.yml (PostgreSQL, registry, matcher), on loopback ports;
used by the split-deployment test, bench/load.py and bench/faults.py. Each service can be
killed (SIGKILL) and started again on the same port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fupin_command() -> list[str]:
    script = Path(sys.executable).with_name("fupin")
    return [str(script)] if script.exists() else [sys.executable, "-m", "clients.cli"]


def wait_serving(address: str, timeout_s: float = 60.0, service: str = "") -> float:
    """Block until address's health says SERVING; returns the seconds waited."""
    started = time.perf_counter()
    deadline = started + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.perf_counter() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.perf_counter() - started
            except grpc.RpcError:
                pass
            time.sleep(0.05)
    raise TimeoutError(f"{address} not SERVING after {timeout_s} s")


@dataclass
class Service:
    """One `fupin serve --only NAME` process, restartable on the same address."""

    name: str
    address: str
    metrics_address: str
    extra: list[str]
    env: dict[str, str]
    log_path: Path
    nice: int = 0  # niceness to start at; below 0 (a larger CPU weight) needs root
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, *, wait: bool = True) -> None:
        command = [
            *fupin_command(),
            "serve",
            "--only",
            self.name,
            "--address",
            self.address,
            "--metrics-address",
            self.metrics_address,
            *self.extra,
        ]
        self._log = self.log_path.open("ab")
        # stdout too: a registry's first start prints its admin key there, kept in the log
        if self.nice:
            command = ["nice", "-n", str(self.nice), *command]  # nice execs: the same pid
        self.process = subprocess.Popen(command, env=self.env, stdout=self._log, stderr=self._log)
        if wait:
            wait_serving(self.address, 120)

    def kill(self) -> None:
        """SIGKILL: no graceful anything, as a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit status."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(30)
        if self._log is not None:
            self._log.close()
        return code


def allowed_nice(nice: int) -> int:
    """``nice`` if this process may start a child at it, else 0 (a negative niceness, a raised
    priority, needs root)."""
    if nice >= 0 or os.geteuid() == 0:
        return nice
    return 0


class Topology:
    """Registry and matcher on loopback over one database; a context manager."""

    def __init__(
        self, database_url: str, workdir: Path, *, matcher_nice: int = 0, **env: str
    ) -> None:
        """``matcher_nice`` starts the matcher at that niceness: below 0 it gets a larger share
        of the cores than the registry, PostgreSQL and the clients on the same machine (as a
        CPU request or cpu_shares would in a cluster); that needs root (see allowed_nice)."""
        # The registry writes its database's first admin key here; the matcher (for its calls
        # to the registry) and this process's clients use it.
        self.key_file = (workdir / "admin.key").resolve()
        inherited = {k: v for k, v in os.environ.items() if k != "FUPIN_API_KEY"}
        base = {
            **inherited,
            "FUPIN_ADMIN_KEY_FILE": str(self.key_file),
            # Every client of a topology shares the one admin key: no per-key rate limit (the
            # benchmarks' writers alone exceed the default 200 calls/s).
            "FUPIN_RATE_LIMIT_PER_S": "0",
            "FUPIN_API_KEY_FILE": str(self.key_file),
            "FUPIN_LOG_FORMAT": "json",
            "FUPIN_LOG_LEVEL": os.environ.get("FUPIN_LOG_LEVEL", "warning"),
            "FUPIN_GRACE_S": "2",
            "FUPIN_HEALTH_PROBE_S": "0.5",
            **env,
        }
        workdir.mkdir(parents=True, exist_ok=True)
        registry_address = f"127.0.0.1:{free_port()}"
        self.registry = Service(
            "registry",
            registry_address,
            f"127.0.0.1:{free_port()}",
            ["--database-url", database_url],
            base,
            workdir / "registry.log",
        )
        self.matcher = Service(
            "matcher",
            f"127.0.0.1:{free_port()}",
            f"127.0.0.1:{free_port()}",
            ["--registry", registry_address],
            base,
            workdir / "matcher.log",
            nice=matcher_nice,
        )
        self.database_url = database_url

    def __enter__(self) -> Topology:
        self.registry.start()
        self.matcher.start()
        # This process's clients (RegistryClient, the CLI, the demo) send the same key.
        self._saved_env = {k: os.environ.get(k) for k in ("FUPIN_API_KEY", "FUPIN_API_KEY_FILE")}
        os.environ.pop("FUPIN_API_KEY", None)
        os.environ["FUPIN_API_KEY_FILE"] = str(self.key_file)
        return self

    def __exit__(self, *exc: Any) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.matcher.stop()
        self.registry.stop()
