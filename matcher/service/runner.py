"""Solves in worker processes: progress streamed back, cancellable, several at once.

OR-Tools' min-cost flow holds the GIL while it solves, so solving on the server's threads would
stall every other call; solves here run in long-lived solver processes (forked from a forkserver
that has OR-Tools imported already). At most `max_parallel` solves run at once; more wait their
turn. Cancelling kills the solving process; a new one replaces it when needed.

Pure Python: nothing here knows of gRPC or SQL. Problems, params and results must pickle.
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from matcher.service.processes import SolverProcess, fault_in_heap, malloc_tuning
from matcher.solvers.common.solving import SolveParams

log = structlog.get_logger(__name__)
SolveFn = Callable[[Any, SolveParams], Any]
WARM_UP_WAIT_S = 60  # the longest a solve waits for the warm-up worker before starting one

# Imported once by the forkserver, so each solver process starts warm (milliseconds, not seconds).
PRELOAD = [
    "numpy",
    "ortools.graph.python.min_cost_flow",
    "ortools.sat.python.cp_model",
    "scipy.spatial",
    "matcher.service.jobs",
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
    """Runs solve functions in child processes, at most `max_parallel` at a time, each process
    at niceness `nice` (a solve then yields the cores to the server's own threads)."""

    def __init__(self, max_parallel: int = 2, *, nice: int = 0, heap_mb: int = 0) -> None:
        self._nice = nice
        self._heap_mb = heap_mb
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        _start_forkserver(heap_mb)
        # Free solve slots, and the jobs queued for one: a queued job has no thread (a
        # hundred queued runs cost neither threads nor CPU); a freed slot starts the next.
        self._free = max_parallel
        self._slot = threading.Lock()
        self._queued: collections.deque[_Job] = collections.deque()
        self._handles: dict[str, RunHandle] = {}
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._warming = threading.Event()  # set: no warm-up worker is starting (warm_up)
        self._warming.set()

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
        with self._slot:
            now = self._free > 0
            if now:
                self._free -= 1
            else:
                self._queued.append(job)
        if now:
            _supervise(job.run)
        return handle

    def _slot_freed(self) -> None:
        """A solve left its slot: the next queued job takes it."""
        with self._slot:
            job = self._queued.popleft() if self._queued else None
            if job is None:
                self._free += 1
        if job is not None:
            _supervise(job.run)

    def warm_up(self) -> None:
        """Start a solver process now (the forkserver imports OR-Tools once), not on the
        first request, with ``heap_mb`` of heap faulted in (malloc_tuning). Workers started
        on demand later (a second solve at once, or in place of a cancelled one) start
        without: a solve waiting for a worker would wait for that too."""

        def start() -> None:
            try:
                self._give_back(_Worker(self._ctx, self._nice, self._heap_mb), True)
            finally:
                self._warming.set()

        self._warming.clear()
        threading.Thread(target=start, daemon=True).start()

    def _take_worker(self) -> _Worker:
        """An idle worker, the warmest first (the one with the most heap faulted in), else a
        new one. A solve that comes while the warm-up worker is starting waits for it: both
        wait for the forkserver's imports anyway, and a cold worker started beside it, idle
        later, was the one the next solve took (a 3-million-arc solve then faulted in
        193,000 pages, 2 s of system time on a freshly booted VM)."""
        self._warming.wait(WARM_UP_WAIT_S)
        with self._lock:
            if self._idle:
                warmest = max(range(len(self._idle)), key=lambda i: (self._idle[i].heap_mb, i))
                return self._idle.pop(warmest)
        return _Worker(self._ctx, self._nice)

    def _give_back(self, worker: _Worker, reusable: bool) -> None:
        if reusable and worker.process.is_alive():
            with self._lock:
                self._idle.append(worker)
        else:
            worker.stop()

    def close(self) -> None:
        """Stop the idle solver processes (running ones end with their solves)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    def get(self, run_id: str) -> RunHandle | None:
        with self._lock:
            return self._handles.get(run_id)

    def cancel(self, run_id: str) -> bool:
        """Ask a queued or running solve to stop; False if it is unknown or already over."""
        handle = self.get(run_id)
        if handle is None or handle.done:
            return False
        handle.cancel()
        with self._slot:
            queued = next((job for job in self._queued if job.handle is handle), None)
            if queued is not None:
                self._queued.remove(queued)
        if queued is not None:  # it ends now, off the caller's thread (on_done stores it)
            _supervise(queued.end_unsolved)
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

    queued_at: float = dataclasses.field(default_factory=time.perf_counter)

    def run(self) -> None:
        """Solve in the slot the executor gave this job, then give it back."""
        try:
            outcome = self._run_in_slot()
        except Exception as exc:  # a broken worker must still end the run
            log.exception("solve_worker_failed", run_id=self.handle.run_id)
            outcome = Outcome(error=f"worker failed: {exc}")
        self._end(outcome)

    def end_unsolved(self) -> None:
        """Cancelled while queued."""
        self._end(Outcome(cancelled=True))

    def _end(self, outcome: Outcome) -> None:
        outcome = dataclasses.replace(outcome, wall_s=time.perf_counter() - self.queued_at)
        self.handle.outcome = outcome
        try:
            self.on_done(outcome)
        finally:
            self.handle._done.set()
            self.executor.forget(self.handle.run_id)

    def _run_in_slot(self) -> Outcome:
        try:
            if self.handle._cancel.is_set():
                return Outcome(cancelled=True)
            self.handle._started.set()
            self.on_start()
            return self._run_child()
        finally:
            self.executor._slot_freed()

    def _run_child(self) -> Outcome:
        worker = self.executor._take_worker()
        reusable = False
        try:
            worker.conn.send(
                (self.solve, self.problem, dataclasses.replace(self.params, progress=None))
            )
            outcome, reusable = self._supervise(worker)
            return outcome
        finally:
            self.executor._give_back(worker, reusable)

    def _supervise(self, worker: _Worker) -> tuple[Outcome, bool]:
        """Relay progress until the result; (outcome, whether the worker can solve again)."""
        while True:
            if self.handle._cancel.is_set():
                return Outcome(cancelled=True), False
            if worker.conn.poll(0.05):
                try:
                    kind, payload = worker.conn.recv()
                except EOFError:
                    return worker.died(), False
                if kind == "progress":
                    self.on_progress(payload)
                elif kind == "result":
                    return Outcome(result=payload), True
                else:
                    return Outcome(error=str(payload)), True
            elif not worker.process.is_alive() and not worker.conn.poll(0):
                return worker.died(), False


class _Worker:
    """A long-lived solver process: jobs in, progress and results out, over one pipe.

    Kept between solves so its heap stays warm (a fresh process pays for first-touching every
    page of its arrays); a cancelled or crashed worker is dropped and replaced on demand.
    """

    def __init__(self, ctx: Any, nice: int, heap_mb: int = 0) -> None:
        self.heap_mb = heap_mb
        self.conn, child_end = ctx.Pipe(duplex=True)
        self.process = SolverProcess(
            target=_worker_main, args=(child_end, nice, heap_mb), daemon=True
        )
        self.process.start()
        child_end.close()

    def died(self) -> Outcome:
        self.process.join(5)
        return Outcome(error=f"solver process died (exit code {self.process.exitcode})")

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


def _worker_main(conn: multiprocessing.connection.Connection, nice: int, heap_mb: int) -> None:
    """Entry point of a solver process: solve job after job until the pipe closes."""
    if nice:
        os.nice(nice)
    if heap_mb:
        fault_in_heap(heap_mb)
    while True:
        try:
            solve, problem, params = conn.recv()
        except (EOFError, OSError):
            return
        _solve_one(conn, solve, problem, params)


def _solve_one(
    conn: multiprocessing.connection.Connection, solve: SolveFn, problem: Any, params: SolveParams
) -> None:
    """Solve, streaming progress, then send the result or the error."""

    def progress(objective: float, bound: float, elapsed: float) -> None:
        conn.send(("progress", Progress(objective, bound, elapsed)))

    try:
        result = solve(problem, dataclasses.replace(params.started_now(), progress=progress))
    except ValueError as exc:  # the problem itself is wrong: tell the caller why
        conn.send(("error", f"invalid problem: {exc}"))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    else:
        conn.send(("result", result))


def _supervise(target: Callable[[], None]) -> None:
    threading.Thread(target=target, name="solve", daemon=True).start()


def _start_forkserver(heap_mb: int = 0) -> None:
    """Start the forkserver (once per process) with the solver processes' memory tuning."""
    from multiprocessing import forkserver

    tuning = malloc_tuning(heap_mb)
    saved = {name: os.environ.get(name) for name in tuning}
    os.environ.update(tuning)
    try:
        forkserver.ensure_running()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
