"""Progress of the runs this process is solving, for WatchMatchRun streams.

Each live run keeps its events; a watcher (a coroutine on the server's event loop) waits for
the next event or the end holding no thread: the solver's supervisor thread that publishes
wakes each watcher's loop.
Every run, whatever its kind, starts (`start`) and ends (`ending`) here, which is where its
log lines and metrics are recorded, labelled with its kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
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
    lock: threading.Lock = field(default_factory=threading.Lock)
    wakers: set[Callable[[], None]] = field(default_factory=set)  # one per watcher

    def changed(self) -> None:
        """Wake every watcher (called with the lock held)."""
        for wake in list(self.wakers):
            wake()


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
            with run.lock:
                run.events.append(progress)
                run.changed()

    def set_state(self, run_id: str, state: int, *, ended: bool = False) -> None:
        run = self.get(run_id)
        if run is not None:
            with run.lock:
                run.state = state
                run.ended = run.ended or ended
                run.changed()
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

    async def follow(self, run_id: str) -> AsyncIterator[tuple[int, Progress | None]]:
        """Yield (state, progress) for each new event, and (state, None) when only the state
        changed, until the run ends (or the watcher's task is cancelled: the caller left)."""
        run = self.get(run_id)
        if run is None:
            return
        changed = asyncio.Event()
        wake = from_any_thread(asyncio.get_running_loop(), changed.set)
        with run.lock:
            run.wakers.add(wake)
        try:
            seen, last_state = 0, 0
            while True:
                changed.clear()
                with run.lock:
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
                await changed.wait()
        finally:
            with run.lock:
                run.wakers.discard(wake)


def from_any_thread(
    loop: asyncio.AbstractEventLoop, fn: Callable[[], object]
) -> Callable[[], None]:
    """A function that runs fn on loop's thread when called from any thread (a solver's
    supervisor); nothing once the loop is closed (the server has stopped)."""

    def call() -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(fn)

    return call
