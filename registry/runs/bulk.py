"""Making hundreds of thousands of values at once (a selection's columns, a problem's arrays)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_gc() -> Iterator[None]:
    """No garbage collection while hundreds of thousands of values are made: each collection
    would walk every object the process holds (it doubled a conversion's time, and the CPU of
    reading a million open listings)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
