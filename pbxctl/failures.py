"""Failures per key (a source address) in a sliding window. Pure: the clock is injected.

Used by the SIP bans and the API token throttle. Memory stays bounded: at most
``tracked`` keys are remembered, the one that failed longest ago forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class FailureCounter(Generic[K]):
    """Counts each key's failures within ``window`` seconds."""

    def __init__(self, after: int, window: float,
                 clock: Callable[[], float] = time.monotonic, tracked: int = 100_000) -> None:
        self._after = after
        self._window = window
        self._clock = clock
        self._tracked = tracked
        self._failures: OrderedDict[K, deque[float]] = OrderedDict()

    def failed(self, key: K) -> int | None:
        """One failure of ``key``; returns how many it made in the window when that
        reaches ``after`` (then its count starts over), else None."""
        now = self._clock()
        times = self._failures.pop(key, None) or deque()
        while times and times[0] <= now - self._window:
            times.popleft()
        times.append(now)
        if len(times) >= self._after:
            return len(times)
        self._failures[key] = times          # most recent last
        while len(self._failures) > self._tracked:
            self._failures.popitem(last=False)
        return None

    def forget(self, key: K) -> None:
        """Drop what was counted for ``key``."""
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)
