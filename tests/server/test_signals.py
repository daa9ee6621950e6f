"""`fupin serve` stops on a SIGTERM that the kernel hands to any of its threads, not only the
main one: the main thread waits for termination in slices (server/loop.py), so CPython runs
its handler soon. An untimed wait hung for good (seen twice in CI as a serve test's timeout)."""

from __future__ import annotations

import subprocess
import sys
import time

SCRIPT = """
import signal, threading, time
from server.loop import LoopServer

server = LoopServer(max_workers=1, wait_workers=1, interceptors=[], options=[])
server.add_insecure_port("127.0.0.1:0")
server.start()
signal.signal(signal.SIGTERM, lambda *_: server.stop(0))

def other_thread():
    time.sleep(0.5)  # the main thread is waiting by now
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # delivered to this thread

threading.Thread(target=other_thread).start()
print("stopped" if server.wait_for_termination() else "timed out", flush=True)
"""


def test_a_sigterm_delivered_to_another_thread_stops_the_wait():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"


def test_a_call_for_the_loop_after_the_server_stopped_is_dropped():
    """A thread that hands the loop work after the server stopped (a health probe ending a
    slow check) neither raises nor runs it: the loop is closed, there is nothing to wake."""
    from server.loop import LoopServer

    server = LoopServer(max_workers=1, wait_workers=1, interceptors=[], options=[])
    server.add_insecure_port("127.0.0.1:0")
    server.start()
    ran = []
    assert server.stop(0).wait(30)
    deadline = time.monotonic() + 30
    while not server.loop.is_closed():  # stop() is set just before the loop's last turn
        assert time.monotonic() < deadline
        time.sleep(0.01)
    server.soon(lambda: ran.append(1))
    assert ran == []
