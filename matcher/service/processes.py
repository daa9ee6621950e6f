"""Solver processes that start without the parent's `__main__`.

A forkserver child normally re-runs the parent's main script (as `__mp_main__`) before its
target, so a script without `if __name__ == "__main__":` that starts a server in-process ran
itself again in every solver process: each child opened the database, started a second
server, and the run ended FAILED ("solver process died"). A solver process needs only
importable modules (its target and the solve functions live in matcher.service), so the
parent's main module is left out of what the child prepares.

Their memory is tuned too (malloc_tuning, fault_in_heap): see the notes above them.
"""

from __future__ import annotations

import io
import os
from multiprocessing import context, forkserver, popen_forkserver, reduction, spawn, util
from typing import Any

# What spawn.prepare() would use to re-run the parent's main script in the child.
MAIN_KEYS = ("init_main_from_path", "init_main_from_name")


class _Popen(popen_forkserver.Popen):
    """popen_forkserver.Popen._launch (CPython 3.11) without the main module."""

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        for key in MAIN_KEYS:
            prep_data.pop(key, None)
        buf = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            context.set_spawning_popen(None)
        fds = self._fds  # type: ignore[attr-defined]  # set by Popen.__init__; not in typeshed
        self.sentinel, w = forkserver.connect_to_new_process(fds)
        parent_w = os.dup(w)  # the parent's sentinel for the child, as the original keeps
        self.finalizer = util.Finalize(self, _close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class SolverProcess(context.ForkServerProcess):
    """A forkserver process that does not re-run the parent's main script."""

    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:
        return _Popen(process_obj)


def _close_fds(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


# Solver processes allocate and free arrays of hundreds of MB. glibc's defaults hand such
# blocks back to the OS and fault fresh pages in on every first touch: building 2 million
# arcs took 1.0 s in a new process against 0.2 s once warm. Keeping them in the heap brings
# the first build to about 0.4 s. Applies to the forkserver and the solver processes only.
# numpy asks for transparent huge pages on every array of 4 MB or more; where the kernel
# honours that only on request (THP "madvise", as here), each first touch of such an array
# faults in (and zeroes, compacting memory if it must) a 2 MB page: the first dense solve of
# a worker spent 0.3 s of system time there (build 0.36 s CPU against 0.15 s without), and
# its min-cost flow, whose own arrays get no advice, ran no faster for it.
# Even kept, a worker's heap is faulted in once: its first large solve after a server start
# paid 268,000 page faults (0.35 s of system time, a 3-million-arc solve 0.33 s slower than its
# second). The worker started with the server faults in `heap_mb` first (runner.Executor), so that
# solve lands on pages already in: 76,000 faults and 0.1 s left with 1 GB (the solve's heap
# peaks at 1.3 GB).
# Threads draw from that heap too: glibc gives each new thread an arena of its own (mmapped,
# never faulted in), so the screening's two threads (produce/arcs.py) and the k-d tree's
# faulted every page of their temporaries afresh: the first sparse build of a worker took
# 0.84–0.94 s against 0.16 s on a freshly booted machine (first touches there cost 10 µs a
# page). One arena keeps them on the warm heap: 0.16 s on the first call too. CP-SAT's
# workers share it at no cost measured (cadres b 11.2 against 11.5 s, c 3.98 against 4.02 s;
# aid 50,000 × 20 in 30 s: gap 0.162% against 0.166% with 2 workers, 0.189% both with 8).


def malloc_tuning(heap_mb: int = 0) -> dict[str, str]:
    """The solver processes' malloc settings (above). A worker keeps at most 1 GB of free
    heap, or the ``heap_mb`` it faults in at start and 512 MB more (MALLOC_TOP_PAD_ above it
    stays too); its threads allocate from that one heap."""
    return {
        "MALLOC_ARENA_MAX": "1",
        "MALLOC_MMAP_THRESHOLD_": str(1 << 32),
        "MALLOC_TRIM_THRESHOLD_": str(max(1 << 30, (heap_mb << 20) + (1 << 29))),
        "MALLOC_TOP_PAD_": str(1 << 28),
        "NUMPY_MADVISE_HUGEPAGE": "0",
    }


def fault_in_heap(mb: int) -> None:
    """Grow the heap by ``mb`` MiB, touching each page, and free it: the heap keeps it
    (MALLOC_TRIM_THRESHOLD_ is above it), and later solves' arrays land on those pages."""
    import numpy as np  # the forkserver has it imported

    block = np.empty(mb << 20, np.uint8)  # from the heap: MALLOC_MMAP_THRESHOLD_ is above it
    block[:: os.sysconf("SC_PAGE_SIZE")] = 0
    del block
