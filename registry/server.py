"""The fupin gRPC server: registry (and matcher) services, health, reflection, shutdown.

`create_server` builds and binds a server (port 0 picks a free port, as tests do) and is
separate from `serve`, which runs one until SIGTERM or SIGINT.
"""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from types import FrameType

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from matcher import service as matcher_service
from matcher.source import InProcessSource
from registry import access_service, db, ledger_service, service
from registry.guard import Guard, RateLimiter
from registry.keys import KeyStore, bootstrap_admin
from registry.rpc import RpcInterceptor
from registry.scoring import ScoringConfig
from registry.settings import Settings
from registry.store import RegistryStore

log = structlog.get_logger(__name__)


class InsecureAddress(Exception):
    """Plaintext on an address other hosts can reach, without `insecure` set."""


@dataclass
class Running:
    server: grpc.Server
    port: int
    store: RegistryStore
    health: health.HealthServicer
    keys: KeyStore

    def start(self) -> None:
        """Start serving, with the objects built so far (modules, engine, services: ~170,000)
        frozen out of the garbage collector's sight. They live as long as the process, and
        every full collection scanned them all: ~100 ms, added to whichever RPC was running."""
        gc.collect()
        gc.freeze()
        self.server.start()


def create_server(settings: Settings, *, address: str | None = None) -> Running:
    """Migrate the database, build the server with every service, bind it (not started)."""
    check_transport(settings, address or settings.address)
    engine = db.make_engine(settings.database_url)
    db.migrate(engine)
    store = RegistryStore(engine, ScoringConfig.load(settings.scoring_file))
    keys = KeyStore(store)
    guard = Guard(keys, RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst))
    limit = settings.max_message_mb * 1024 * 1024
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="rpc"),
        interceptors=[RpcInterceptor(guard)],
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ],
    )
    names = [service.add_to_server(store, server), access_service.add_to_server(keys, server)]
    names.append(ledger_service.add_to_server(store, server, salt=settings.transparency_salt))
    matcher_name, _ = matcher_service.add_to_server(
        InProcessSource(store),
        server,
        max_parallel=settings.max_parallel_solves,
        limits=(settings.max_problem_listings, settings.max_problem_orders),
    )
    names.append(matcher_name)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    port = _bind(server, settings, address or settings.address)
    return Running(server, port, store, health_servicer, keys)


def check_transport(settings: Settings, address: str) -> None:
    """TLS needs a certificate and its key; plaintext only on loopback unless insecure."""
    tls = (settings.tls_cert_file, settings.tls_key_file)
    if tls.count(None) == 1:
        raise InsecureAddress("TLS needs both tls_cert_file and tls_key_file")
    if tls == (None, None) and not is_loopback(address) and not settings.insecure:
        raise InsecureAddress(
            f"refusing plaintext on {address}: set tls_cert_file and tls_key_file, "
            "or --insecure (FUPIN_INSECURE=1) if something else encrypts the traffic"
        )


def _bind(server: grpc.Server, settings: Settings, address: str) -> int:
    """Listen with TLS when a certificate is set (mutual TLS with a client CA)."""
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        ca = settings.tls_client_ca_file
        credentials = grpc.ssl_server_credentials(
            [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
            root_certificates=ca.read_bytes() if ca is not None else None,
            require_client_auth=ca is not None,
        )
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind {address}")
    return port


def is_loopback(address: str) -> bool:
    if address.startswith("unix:"):
        return True
    host = address.rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host == "::1" or host.startswith("127.")


def serve(
    settings: Settings,
    *,
    ready: threading.Event | None = None,
    announce: Callable[[str], None] | None = None,
) -> int:
    """Run until SIGTERM/SIGINT; in-flight calls get settings.grace_s to finish. Returns 0.

    On a database without an admin key, one is made and written to settings.admin_key_file,
    and `announce` gets the secret (the CLI prints it, once)."""
    running = create_server(settings)
    secret = bootstrap_admin(running.keys, settings.admin_key_file)
    if secret is not None and announce is not None:
        announce(secret)
    running.start()
    host = settings.address.rsplit(":", 1)[0]
    log.info("server_started", address=f"{host}:{running.port}", database=_safe_url(settings))
    stopped = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("server_stopping", signal=signal.Signals(signum).name, grace_s=settings.grace_s)
        running.health.enter_graceful_shutdown()
        running.server.stop(settings.grace_s).wait()
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if ready is not None:
        ready.set()
    running.server.wait_for_termination()
    stopped.wait(settings.grace_s + 5)
    running.store.engine.dispose()
    log.info("server_stopped")
    return 0


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)
