"""Waiting that ends early when a long-running task is told to stop."""

from __future__ import annotations

import asyncio


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set meanwhile."""
    await wait_either(asyncio.Event(), stop, seconds)


async def wait_either(event: asyncio.Event, stop: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` or ``stop`` is set, or ``seconds`` pass; True when ``event``
    was set."""
    waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
    return event.is_set()
