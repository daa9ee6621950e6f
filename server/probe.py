"""Health that follows what a server depends on: a background probe flips SERVING/NOT_SERVING.

The registry probes its database (one `SELECT 1`); a matcher running alone probes the
registry's health. Load balancers and orchestrators (docker-compose, Kubernetes) read the
standard grpc.health.v1 service and stop sending calls while a dependency is down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import structlog
from grpc_health.v1 import health_pb2
from sqlalchemy import Engine

from server.health import Health

log = structlog.get_logger(__name__)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def database_check(engine: Engine) -> Callable[[], bool]:
    """True when a pooled connection can run a statement (a dead pool is dropped on failure)."""

    def check() -> bool:
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except Exception as exc:  # any failure means: do not send us calls now
            log.debug("probe_failed", error=str(exc)[:200])
            return False
        return True

    return check


class HealthProbe:
    """Re-checks a dependency every interval_s and sets the status of every service name."""

    def __init__(
        self,
        servicer: Health,
        names: Sequence[str],
        check: Callable[[], bool],
        interval_s: float,
    ) -> None:
        self.servicer = servicer
        self.names = ["", *names]
        self.check = check
        self.interval_s = interval_s
        self.serving: bool | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="health-probe", daemon=True)

    def probe(self) -> bool:
        """Check once and publish the result; returns it."""
        ok = self.check()
        if ok != self.serving:
            if self.serving is not None:
                log.warning("health_changed", serving=ok)
            self.serving = ok
            for name in self.names:
                self.servicer.set(name, SERVING if ok else NOT_SERVING)
        return ok

    def start(self) -> None:
        self.probe()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.probe()
