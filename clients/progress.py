"""A small progress bar for long CLI operations: done / total, rate and ETA, on stderr.

On a terminal the bar redraws in place; otherwise (a pipe, a log file, CI) it writes a plain
line at most every `plain_interval_s`, so logs stay readable. Part of the CLI's output layer.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from clients.i18n import _

WIDTH = 30


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Call update(done) as work advances and close() at the end."""

    def __init__(
        self,
        total: int | None,
        *,
        label: str = "rows",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        tty_interval_s: float = 0.1,
        plain_interval_s: float = 2.0,
    ) -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.clock = clock
        self.tty = self.stream.isatty()
        self.interval_s = tty_interval_s if self.tty else plain_interval_s
        self.start = clock()
        self.done = 0
        self._last_shown = -float("inf")
        self._last_text = ""
        self._note = ""
        self._lock = threading.Lock()  # gRPC reports progress from a thread of its own

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.start

    @property
    def rate(self) -> float:
        """Units per second so far."""
        elapsed = self.elapsed_s
        return self.done / elapsed if elapsed > 0 else 0.0

    def update(self, done: int, note: str = "") -> None:
        """Record progress; redraws at most every interval, and always on reaching the total."""
        with self._lock:
            self.done, self._note = done, note
            now = self.clock()
            if now - self._last_shown >= self.interval_s or done == self.total:
                self._last_shown = now
                self._show()

    @contextmanager
    def heartbeat(self, every_s: float | None = None) -> Iterator[None]:
        """Redraw every few seconds while the block runs, so a long wait shows time passing."""
        interval = every_s or (1.0 if self.tty else 10.0)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                with self._lock:
                    self._show()

        thread = threading.Thread(target=beat, name="progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def close(self, note: str = "") -> None:
        """Show the final state; `note` follows it (e.g. "stored")."""
        with self._lock:
            self._note = note
            self._show()
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def render(self) -> str:
        done, total = self.done, self.total
        rate = self.rate
        parts = [f"{done:,}" + (f"/{total:,}" if total else ""), self.label]
        if total:
            fraction = min(done / total, 1.0)
            filled = int(WIDTH * fraction)
            parts.insert(0, f"[{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:4.0%}")
        parts.append(_("{rate}/s").format(rate=f"{rate:,.0f}"))
        parts.append(format_duration(self.elapsed_s))
        if total and rate > 0 and done < total:
            parts.append(_("ETA {time}").format(time=format_duration((total - done) / rate)))
        return " ".join(parts)

    def _show(self) -> None:
        text = self.render() + (f" {self._note}" if self._note else "")
        if text == self._last_text:
            return
        self._last_text = text
        if self.tty:
            self.stream.write(f"\r\x1b[2K{text}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
