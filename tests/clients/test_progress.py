"""The progress bar: counts, rate and ETA; redraws on a terminal, plain lines otherwise."""

from __future__ import annotations

import io
import time

from clients import i18n
from clients.progress import Progress, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_render_counts_rate_and_eta():
    """Half of 1,000 rows in 5 s: 50%, 100/s, 5 s to go."""
    clock = Clock()
    progress = Progress(1000, label="households", stream=io.StringIO(), clock=clock)
    clock.now += 5
    progress.update(500)
    assert progress.render() == (
        "[###############...............]  50% 500/1,000 households 100/s 0:05 ETA 0:05"
    )


def test_the_bar_speaks_chinese():
    """Under --lang zh-CN the rate and the time left are in Chinese too."""
    clock = Clock()
    progress = Progress(1000, label="户", stream=io.StringIO(), clock=clock)
    clock.now += 5
    progress.update(500)
    i18n.use("zh-CN")
    try:
        assert progress.render().endswith("500/1,000 户 100/秒 0:05 预计剩余 0:05")
    finally:
        i18n.use("en")


def test_plain_lines_are_throttled():
    """Without a terminal, at most one line per interval, plus the last one."""
    clock, out = Clock(), io.StringIO()
    progress = Progress(100, stream=out, clock=clock, plain_interval_s=2)
    for done in range(1, 101):
        clock.now += 0.1
        progress.update(done)
    progress.close("- stored")
    lines = out.getvalue().splitlines()
    assert len(lines) == 7 and lines[-1].endswith("100/100 rows 10/s 0:10 - stored")


def test_terminal_redraws_in_place():
    """On a terminal each update rewrites the same line; close ends it."""
    clock, out = Clock(), Terminal()
    progress = Progress(None, stream=out, clock=clock)
    clock.now += 1
    progress.update(10)
    progress.close()
    assert out.getvalue().startswith("\r\x1b[2K10 rows 10/s 0:01") and out.getvalue().endswith("\n")


def test_format_duration():
    """Durations read as m:ss, or h:mm:ss past an hour."""
    assert [format_duration(s) for s in (4.4, 75, 3725)] == ["0:04", "1:15", "1:02:05"]


def test_heartbeat_redraws_while_waiting():
    """While the server stores (no new rows), the bar is redrawn to show the time passing."""
    clock, out = Clock(), io.StringIO()
    progress = Progress(10, stream=out, clock=clock)
    progress.update(10, "- waiting")
    with progress.heartbeat(every_s=0.01):
        for _ in range(3):
            clock.now += 5
            time.sleep(0.03)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].endswith("0:15 - waiting")
