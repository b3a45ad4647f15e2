"""Failed token attempts per client address: after ``limit`` failures within ``window``
seconds the address is refused (429) for ``block`` seconds, whatever token it shows."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class AuthThrottle:
    """Counts failed authentications per address, in memory (one ``serve`` process)."""

    def __init__(self, limit: int, window: float, block: float,
                 clock: Callable[[], float] = time.monotonic,
                 max_addresses: int = 10_000) -> None:
        self._limit = limit
        self._window = window
        self._block = block
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def retry_after(self, address: str) -> int:
        """Whole seconds until ``address`` may try again; 0 when it may now."""
        until = self._blocked_until.get(address)
        if until is None:
            return 0
        left = until - self._clock()
        if left <= 0:
            del self._blocked_until[address]
            return 0
        return max(1, math.ceil(left))

    def failed(self, address: str) -> bool:
        """Count a failure of ``address``; True when it is blocked from now on."""
        now = self._clock()
        recent = self._failures.pop(address, deque())
        while recent and recent[0] <= now - self._window:
            recent.popleft()
        recent.append(now)
        blocked = len(recent) >= self._limit
        if blocked:
            self._blocked_until[address] = now + self._block
        else:
            self._failures[address] = recent     # re-inserted: newest last
        self._forget_oldest()
        return blocked

    def _forget_oldest(self) -> None:
        # A scan from many addresses must not grow memory without bound: the addresses
        # that failed longest ago are forgotten first.
        while len(self._failures) > self._max_addresses:
            del self._failures[next(iter(self._failures))]
        while len(self._blocked_until) > self._max_addresses:
            del self._blocked_until[next(iter(self._blocked_until))]
