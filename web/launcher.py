"""The calls that start runs from the console, each on a thread of its own (shared by the
office's and the platform's pages through Console.runs)."""

from __future__ import annotations

import threading
from typing import Any

from web.link import Link


class Launcher:
    """The calls that start runs, each on a thread of its own: a run-creating RPC answers when
    the run is solved, and the page that started it returns at once to watch it. What is kept
    is only whether each call is still open and, if it failed, why (for the run's page)."""

    def __init__(self) -> None:
        self._open: set[str] = set()
        self._failures: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self, link: Link, method: str, request: Any, *, timeout_s: float) -> None:
        run_id = request.run_id
        with self._lock:
            self._open.add(run_id)

        def call() -> None:
            try:
                link.call("matcher", method, request, timeout_s=timeout_s)
            except Exception as error:  # shown on the run's page
                with self._lock:
                    self._failures[run_id] = str(getattr(error, "message", error))
                    while len(self._failures) > 1000:
                        self._failures.pop(next(iter(self._failures)))
            finally:
                with self._lock:
                    self._open.discard(run_id)

        threading.Thread(target=call, name=f"run-{run_id}", daemon=True).start()

    def pending(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._open

    def failure(self, run_id: str) -> str:
        with self._lock:
            return self._failures.get(run_id, "")
