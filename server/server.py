"""The fupin gRPC server: registry and/or matcher services, health, reflection, shutdown.

`create_server` builds and binds a server (port 0 picks a free port, as tests do) and is
separate from `serve`, which runs one until SIGTERM or SIGINT.
"""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

import grpc
import structlog
from grpc_reflection.v1alpha import reflection

from clients.auth import is_loopback
from matcher.service.source import RegistrySource
from registry import db
from registry.access import audit, users_servicer
from registry.access.keys import bootstrap_admin
from registry.access.users import Credentials
from registry.cadrework import servicer as cadre_work_service
from registry.ledger import servicer as ledger_service
from registry.reports import servicer as report_service
from registry.resources import query
from registry.resources import servicer as service
from registry.resources.scoring import ScoringConfig
from registry.resources.store import RegistryStore
from registry.season import servicer as season_service
from registry.year import servicer as year_service
from registry.year import shocks
from registry.year.rules import RiskRules, YearRules
from server import grpc_source, health, probe
from server.admission import Admission, Bounds
from server.guard import AuditLog, Authenticator, Guard, RateLimiter, RemoteAudit
from server.health import Health
from server.interceptor import RpcInterceptor
from server.loop import LoopServer
from server.metrics import Metrics
from server.probe import HealthProbe
from server.remote_keys import RemoteKeys
from server.settings import Settings
from server.sources import InProcessSource

log = structlog.get_logger(__name__)


class InsecureAddress(Exception):
    """Plaintext on an address other hosts can reach, without `insecure` set."""


@dataclass
class Running:
    server: LoopServer
    port: int
    store: RegistryStore | None  # None in a matcher-only process
    health: Health
    keys: Credentials | None  # None in a matcher-only process (it asks the registry)
    probe: HealthProbe
    metrics: Metrics
    closers: list[Callable[[], object]] = field(default_factory=list)
    metrics_port: int = 0  # 0: no /metrics endpoint
    audit_writer: audit.AuditWriter | None = None  # None in a matcher-only process

    def start(self) -> None:
        """Start serving, with the objects built so far (modules, engine, services: ~170,000)
        frozen out of the garbage collector's sight. They live as long as the process, and
        every full collection scanned them all: ~100 ms, added to whichever RPC was running."""
        gc.collect()
        gc.freeze()
        self.server.start()
        self.probe.start()

    def close(self) -> None:
        """Release what the server held (after server.stop): probe, pool, channels."""
        self.probe.stop()
        for close in self.closers:
            close()


def create_server(settings: Settings, *, address: str | None = None) -> Running:
    """Build the server with the services settings.only asks for, bind it (not started).

    The registry migrates its database first; a matcher alone connects to settings.
    registry_target and marks FAILED the runs its dead predecessors left active. Callers are
    checked against the API keys in the database, or, in a matcher alone, by the registry."""
    check_transport(settings, address or settings.address)
    query.use_signing_key(settings.page_token_key, settings.page_token_key_file)
    limit = settings.max_message_mb * 1024 * 1024
    metrics = Metrics()
    limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    closers: list[Callable[[], object]] = []
    store: RegistryStore | None = None
    keys: Credentials | None = None
    authenticator: Authenticator
    audit_writer: audit.AuditWriter | None = None
    audit_log: AuditLog
    source: RegistrySource | None = None
    check: Callable[[], bool] | None = None
    if settings.only != "matcher":
        engine = db.make_engine(settings.database_url)
        db.migrate(engine)
        checkpoints = db.WalCheckpoints.start(engine)  # commits never checkpoint the log
        store = RegistryStore(engine, ScoringConfig.load(settings.scoring_file))
        authenticator = keys = Credentials(store)  # API keys and users' sessions
        audit_log = audit_writer = audit.AuditWriter(store)
        closers.append(audit_writer.close)
        if checkpoints is not None:
            closers.append(checkpoints.close)
        closers.append(engine.dispose)
        source = InProcessSource(store, audit_writer)
    else:
        remote_keys = RemoteKeys(settings.registry_target, timeout_s=settings.registry_timeout_s)
        authenticator = remote_keys
        closers.append(remote_keys.close)
        source, remote = grpc_source.connect(
            settings.registry_target, timeout_s=settings.registry_timeout_s
        )
        remote.wait_ready(settings.registry_timeout_s)
        closers.append(remote.close)
        audit_log = RemoteAudit(source)  # the matcher's responses name households too
        check = remote.serving
    bounds = Bounds(
        calls_per_key=settings.max_calls_per_key,
        calls=settings.calls_bound,
        streams_per_key=settings.max_streams_per_key,
        streams=settings.max_streams,
    )
    admission = Admission(bounds)
    metrics.watch_in_flight(admission.in_flight)
    interceptor = RpcInterceptor(Guard(authenticator, limiter, audit_log), metrics, admission)
    server = LoopServer(
        max_workers=settings.max_workers,
        wait_workers=settings.wait_workers,
        interceptors=[interceptor],
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ],
    )
    interceptor.pool = server.pool  # plain handlers run there, dispatched by it
    names: list[str] = []
    if store is not None and keys is not None and source is not None:
        engine = store.engine
        risk_rules = RiskRules.load(settings.scoring_file)
        names += [
            # The watchlist ranks by the year's risk rule: composed here, for the resources
            # know nothing of the year (registry/resources/watchlist.py).
            service.add_to_server(store, server, shocks.watch_rank(store, risk_rules)),
            users_servicer.add_to_server(keys, server, audit_writer),
            ledger_service.add_to_server(
                store,
                server,
                salt=settings.transparency_salt,
                signing_key=settings.ledger_signing_key_file,
                audit_writer=audit_writer,
            ),
            year_service.add_to_server(
                store,
                server,
                YearRules.load(settings.scoring_file),
                risk_rules,
                audit_writer,
            ),
            season_service.add_to_server(store, server, overdue_days=settings.aid_overdue_days),
            cadre_work_service.add_to_server(store, server),
            report_service.add_to_server(store, server),
            grpc_source.add_to_server(source, server),
        ]
        check = probe.database_check(engine)
        metrics.watch_pool(engine)
    if settings.only != "registry":
        # Imported here: OR-Tools and the models take seconds a registry alone need not spend.
        from matcher.service import servicer as matcher_service

        matcher_name, _ = matcher_service.add_to_server(
            source,
            server,
            max_parallel=settings.max_parallel_solves,
            solver_nice=settings.solver_nice,
            solver_heap_mb=settings.solver_heap_mb,
            limits=(settings.max_problem_listings, settings.max_problem_orders),
            metrics=metrics,
            max_message_bytes=limit,
        )
        names.append(matcher_name)
    assert check is not None  # at least one of the two services runs
    health_servicer = Health(server.soon)
    health.add_to_server(health_servicer, server)
    for name in ["", *names]:  # until the probe (started with the server) says otherwise
        health_servicer.set(name, probe.SERVING)
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME],
        server,  # a grpc.Server to reflection: a plain handler, run on the pool (dispatch.py)
    )
    port = _bind(server, settings, address or settings.address)
    watcher = HealthProbe(health_servicer, names, check, settings.health_probe_s)
    running = Running(
        server,
        port,
        store,
        health_servicer,
        keys,
        watcher,
        metrics,
        closers,
        audit_writer=audit_writer,
    )
    if settings.metrics_address:
        endpoint = metrics.serve(settings.metrics_address)
        running.metrics_port = endpoint.server_port
        closers.append(endpoint.shutdown)
    return running


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
    if running.keys is not None:
        secret = bootstrap_admin(running.keys, settings.admin_key_file)
        if secret is not None and announce is not None:
            announce(secret)
    running.start()
    host = settings.address.rsplit(":", 1)[0]
    log.info(
        "server_started",
        address=f"{host}:{running.port}",
        services=settings.only,
        database=_safe_url(settings) if settings.only != "matcher" else None,
        registry=settings.registry_target or None,
        metrics_port=running.metrics_port or None,
    )
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
    running.close()
    log.info("server_stopped")
    return 0


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)
