"""A monotonic clock a test moves by hand (injected instead of time.monotonic)."""

from __future__ import annotations


class Clock:
    """Reads ``now``; the test adds to it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
