"""Failed sign-ins counted per client address: past a limit in a window, that address is
refused for the rest of the window without asking the access service.

The access service locks an account after repeated failures (registry/access/users.py); this
stops one address from guessing across many accounts. Addresses are the TCP peer's: behind
a proxy, every user shares the proxy's address, so raise the limit or throttle at the proxy.
At most MAX_ADDRESSES are remembered (the oldest forgotten first), so a flood of addresses
cannot grow the console's memory without bound.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_ADDRESSES = 10_000


class SignInThrottle:
    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after_s(self, address: str) -> int:
        """Seconds until address may try again; 0 when it may now (or limit is 0: off)."""
        if self.limit <= 0:
            return 0
        with self._lock:
            times = self._recent(address)
            if len(times) < self.limit:
                return 0
            return max(1, math.ceil(times[0] + self.window_s - self.clock()))

    def failed(self, address: str) -> None:
        if self.limit <= 0:
            return
        with self._lock:
            times = self._recent(address)
            times.append(self.clock())
            self._failures[address] = times
            self._failures.move_to_end(address)
            while len(self._failures) > MAX_ADDRESSES:
                self._failures.popitem(last=False)

    def _recent(self, address: str) -> deque[float]:
        times = self._failures.get(address, deque())
        horizon = self.clock() - self.window_s
        while times and times[0] <= horizon:
            times.popleft()
        return times
