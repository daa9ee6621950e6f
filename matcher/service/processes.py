"""Solver processes that start without the parent's `__main__`.

A forkserver child normally re-runs the parent's main script (as `__mp_main__`) before its
target, so a script without `if __name__ == "__main__":` that starts a server in-process ran
itself again in every solver process: each child opened the database, started a second
server, and the run ended FAILED ("solver process died"). A solver process needs only
importable modules (its target and the solve functions live in matcher.service), so the
parent's main module is left out of what the child prepares.
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
