"""Progress of the runs this process is solving, for WatchMatchRun streams.

Each live run keeps its events; watchers block on a condition until a new event or the end.
Every run, whatever its kind, starts (`start`) and ends (`ending`) here, which is where its
log lines and metrics are recorded, labelled with its kind.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from matcher.service.runner import Progress
from matcher.service.source import RunState

log = structlog.get_logger(__name__)


class RunMetrics(Protocol):
    """Where run sizes and ends are counted (the server's Prometheus metrics, server/metrics.py)."""

    def run_started(self, kind: str, **sizes: int) -> None: ...

    def run_finished(self, kind: str, state: str, seconds: float, gap: float | None) -> None: ...


class _Uncounted:
    """No metrics: runs are still logged."""

    def run_started(self, kind: str, **sizes: int) -> None:
        pass

    def run_finished(self, kind: str, state: str, seconds: float, gap: float | None) -> None:
        pass


@dataclass
class LiveRun:
    state: int
    events: list[Progress] = field(default_factory=list)
    ended: bool = False
    changed: threading.Condition = field(default_factory=threading.Condition)


class LiveRuns:
    """Registry of in-flight runs (this process only; finished runs are read from storage)."""

    def __init__(self, metrics: RunMetrics | None = None) -> None:
        self._runs: dict[str, LiveRun] = {}
        self._lock = threading.Lock()
        self.metrics: RunMetrics = metrics or _Uncounted()

    def start(self, run_id: str, kind: str, *, time_limit_s: float, **sizes: int) -> None:
        """A run begins (QUEUED): log it and count its sizes (listings, households, ...)."""
        log.info(
            "run_started",
            run_id=run_id,
            kind=kind,
            time_limit_s=round(time_limit_s, 3),
            **sizes,
        )
        self.metrics.run_started(kind, **sizes)
        self.open(run_id, RunState.QUEUED)

    def open(self, run_id: str, state: int) -> None:
        with self._lock:
            self._runs[run_id] = LiveRun(state)

    def get(self, run_id: str) -> LiveRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def publish(self, run_id: str, progress: Progress) -> None:
        run = self.get(run_id)
        if run is not None:
            with run.changed:
                run.events.append(progress)
                run.changed.notify_all()

    def set_state(self, run_id: str, state: int, *, ended: bool = False) -> None:
        run = self.get(run_id)
        if run is not None:
            with run.changed:
                run.state = state
                run.ended = run.ended or ended
                run.changed.notify_all()
        if ended:
            with self._lock:
                self._runs.pop(run_id, None)

    @contextmanager
    def ending(self, run_id: str, kind: str, fields: dict[str, Any]) -> Iterator[None]:
        """Around storing how a run ended (`fields`: its final state, status, objective...):
        the run stops being live whatever happens, and once stored, its end is logged and
        counted."""
        try:
            yield
        finally:
            self.set_state(run_id, fields["state"], ended=True)
        state = RunState(fields["state"]).name
        self.metrics.run_finished(kind, state, fields["total_s"], fields.get("gap"))
        log.info(
            "run_finished",
            run_id=run_id,
            kind=kind,
            state=state,
            status=fields.get("status"),
            objective=fields.get("objective"),
            gap=fields.get("gap"),
            total_s=round(fields["total_s"], 3),
        )

    def follow(
        self, run_id: str, *, poll_s: float = 0.5, active: threading.Event | None = None
    ) -> Iterator[tuple[int, Progress | None]]:
        """Yield (state, progress) for each new event, and (state, None) when only the state
        changed, until the run ends or `active` is cleared (the watcher left)."""
        run = self.get(run_id)
        if run is None:
            return
        seen, last_state = 0, 0
        while active is None or active.is_set():
            with run.changed:
                if seen == len(run.events) and not run.ended:
                    run.changed.wait(poll_s)
                fresh = run.events[seen:]
                seen = len(run.events)
                state, ended = run.state, run.ended
            for progress in fresh:
                yield state, progress
            if not fresh and state != last_state:
                yield state, None
            last_state = state
            if ended:
                return
