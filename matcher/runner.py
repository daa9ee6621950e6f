"""Solves in worker processes: progress streamed back, cancellable, several at once.

OR-Tools' min-cost flow holds the GIL while it solves, so solving on the server's threads would
stall every other call; each solve here runs in its own process (forked from a forkserver that
has OR-Tools imported already, so a start costs milliseconds). At most `max_parallel` solves run
at once; more wait their turn. Cancelling terminates the process.

Pure Python: nothing here knows of gRPC or SQL. Problems, params and results must pickle.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from matcher.solving import SolveParams

log = structlog.get_logger(__name__)
SolveFn = Callable[[Any, SolveParams], Any]
# Imported once by the forkserver, so each solver process starts warm (milliseconds, not seconds).
PRELOAD = [
    "numpy",
    "ortools.graph.python.min_cost_flow",
    "ortools.sat.python.cp_model",
    "matcher.jobs",
]


@dataclass(frozen=True)
class Progress:
    """An improving solution seen by the solver."""

    objective: float
    best_bound: float
    elapsed_s: float


@dataclass(frozen=True)
class Outcome:
    """How a solve ended: exactly one of result / error is set unless cancelled."""

    result: Any = None
    error: str = ""
    cancelled: bool = False
    wall_s: float = 0.0


class RunHandle:
    """One submitted solve. `wait()` blocks until it ends; listeners hear progress."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.outcome: Outcome | None = None
        self._done = threading.Event()
        self._cancel = threading.Event()
        self._started = threading.Event()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def started(self) -> bool:
        return self._started.is_set()

    def wait(self, timeout: float | None = None) -> Outcome | None:
        self._done.wait(timeout)
        return self.outcome

    def cancel(self) -> None:
        self._cancel.set()


class Executor:
    """Runs solve functions in child processes, at most `max_parallel` at a time."""

    def __init__(self, max_parallel: int = 2) -> None:
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._slots = threading.BoundedSemaphore(max_parallel)
        self._handles: dict[str, RunHandle] = {}
        self._lock = threading.Lock()

    def submit(
        self,
        run_id: str,
        solve: SolveFn,
        problem: Any,
        params: SolveParams,
        *,
        on_progress: Callable[[Progress], None] = lambda _: None,
        on_start: Callable[[], None] = lambda: None,
        on_done: Callable[[Outcome], None] = lambda _: None,
    ) -> RunHandle:
        """Start the solve in the background; callbacks run on a supervisor thread."""
        handle = RunHandle(run_id)
        with self._lock:
            self._handles[run_id] = handle
        job = _Job(self, handle, solve, problem, params, on_progress, on_start, on_done)
        threading.Thread(target=job.run, name=f"solve-{run_id}", daemon=True).start()
        return handle

    def warm_up(self) -> None:
        """Start the forkserver now (it imports OR-Tools once), not on the first request."""
        threading.Thread(target=self._ctx.Process(target=_nothing).start, daemon=True).start()

    def get(self, run_id: str) -> RunHandle | None:
        with self._lock:
            return self._handles.get(run_id)

    def cancel(self, run_id: str) -> bool:
        """Ask a queued or running solve to stop; False if it is unknown or already over."""
        handle = self.get(run_id)
        if handle is None or handle.done:
            return False
        handle.cancel()
        return True

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._handles.pop(run_id, None)


@dataclass
class _Job:
    executor: Executor
    handle: RunHandle
    solve: SolveFn
    problem: Any
    params: SolveParams
    on_progress: Callable[[Progress], None]
    on_start: Callable[[], None]
    on_done: Callable[[Outcome], None]

    def run(self) -> None:
        start = time.perf_counter()
        try:
            outcome = self._run_in_slot()
        except Exception as exc:  # a broken worker must still end the run
            log.exception("solve_worker_failed", run_id=self.handle.run_id)
            outcome = Outcome(error=f"worker failed: {exc}")
        outcome = dataclasses.replace(outcome, wall_s=time.perf_counter() - start)
        self.handle.outcome = outcome
        try:
            self.on_done(outcome)
        finally:
            self.handle._done.set()
            self.executor.forget(self.handle.run_id)

    def _run_in_slot(self) -> Outcome:
        while not self.executor._slots.acquire(timeout=0.05):
            if self.handle._cancel.is_set():
                return Outcome(cancelled=True)
        try:
            if self.handle._cancel.is_set():
                return Outcome(cancelled=True)
            self.handle._started.set()
            self.on_start()
            return self._run_child()
        finally:
            self.executor._slots.release()

    def _run_child(self) -> Outcome:
        ctx = self.executor._ctx
        receiver, sender = ctx.Pipe(duplex=False)
        params = dataclasses.replace(self.params, progress=None)
        child = ctx.Process(
            target=_child_main, args=(self.solve, self.problem, params, sender), daemon=True
        )
        child.start()
        sender.close()
        try:
            return self._supervise(child, receiver)
        finally:
            receiver.close()
            if child.is_alive():
                child.kill()
            child.join(5)

    def _supervise(self, child: Any, receiver: multiprocessing.connection.Connection) -> Outcome:
        while True:
            if self.handle._cancel.is_set():
                child.terminate()
                return Outcome(cancelled=True)
            if receiver.poll(0.05):
                try:
                    kind, payload = receiver.recv()
                except EOFError:
                    return _died(child)
                if kind == "progress":
                    self.on_progress(payload)
                elif kind == "result":
                    return Outcome(result=payload)
                else:
                    return Outcome(error=str(payload))
            elif not child.is_alive() and not receiver.poll(0):
                return _died(child)


def _died(child: Any) -> Outcome:
    child.join(5)
    return Outcome(error=f"solver process died (exit code {child.exitcode})")


def _child_main(
    solve: SolveFn, problem: Any, params: SolveParams, sender: multiprocessing.connection.Connection
) -> None:
    """Entry point of a solver process: solve, streaming progress, then send the result."""

    def progress(objective: float, bound: float, elapsed: float) -> None:
        sender.send(("progress", Progress(objective, bound, elapsed)))

    try:
        result = solve(problem, dataclasses.replace(params.started_now(), progress=progress))
    except ValueError as exc:  # the problem itself is wrong: tell the caller why
        sender.send(("error", f"invalid problem: {exc}"))
    except Exception as exc:
        sender.send(("error", f"{type(exc).__name__}: {exc}"))
    else:
        sender.send(("result", result))
    finally:
        sender.close()


def _nothing() -> None:
    """A child that only proves the forkserver is up."""
