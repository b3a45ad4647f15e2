"""A node's AMI link kept alive: ping with a reply deadline, reconnect with backoff.

One connection per node. A half-open link (the peer vanished without a FIN) is noticed
when a ``Ping`` gets no answer in time. Every reconnect is a new login on a new
connection: nothing sent on the old one is ever sent again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from pbxctl.asterisk.ami import AmiEndpoint, PanoramiskAmiClient
from pbxctl.errors import AmiError
from pbxctl.stopping import sleep_unless

log = logging.getLogger(__name__)
EventHandler = Callable[[dict[str, str]], None]


@dataclass(frozen=True)
class LinkPolicy:
    """How often to ping, how long to wait for the answer, how to back off."""

    ping_interval: float = 5.0
    ping_timeout: float = 3.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    stable_seconds: float = 60.0   # a link up this long has recovered: back-off starts over


DEFAULT_POLICY = LinkPolicy()


def backoff_delay(failures: int, policy: LinkPolicy,
                  uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait after ``failures`` failed attempts in a row: exponential, capped,
    with jitter (half to all of it) so many pbxctl processes do not retry in step."""
    ceiling = min(policy.backoff_max, policy.backoff_initial * 2 ** max(0, failures - 1))
    return uniform(ceiling / 2, ceiling)


class LinkObserver(Protocol):
    """What the link tells about its state (metrics, logs, backfill)."""

    async def link_up(self, node: str, reconnect: bool) -> None:
        """Logged in (again); ``reconnect`` when an earlier connection was lost."""
        ...

    def link_down(self, node: str, reason: str) -> None:
        """The connection is gone; a reconnect follows."""
        ...


class EventClient(Protocol):
    """The part of an AMI client the link needs."""

    @property
    def lost(self) -> asyncio.Event:
        """Set when the connection is gone."""
        ...

    async def action(self, name: str, fields: Mapping[str, str] | None = None) -> object:
        """Send an action and wait for the answer (raises AmiError past the deadline)."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


Connector = Callable[[Mapping[str, EventHandler]], Awaitable[EventClient]]


def panoramisk_connector(endpoint: AmiEndpoint, events: str, policy: LinkPolicy
                         ) -> Connector:
    """One login attempt per call; actions on the link wait ``ping_timeout`` at most."""

    async def connect(handlers: Mapping[str, EventHandler]) -> EventClient:
        return await PanoramiskAmiClient.connect(endpoint, timeout=policy.ping_timeout,
                                                 attempts=1, events=events,
                                                 handlers=handlers)
    return connect


class AmiLink:
    """Keeps one node's AMI connection up until ``stop`` is set, feeding its events to
    the handlers."""

    def __init__(self, node: str, connect: Connector, handlers: Mapping[str, EventHandler],
                 observer: LinkObserver, policy: LinkPolicy = DEFAULT_POLICY) -> None:
        self.node = node
        self._connect = connect
        self._handlers = handlers
        self._observer = observer
        self._policy = policy

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, watch, reconnect with backoff; returns once ``stop`` is set."""
        failures = 0
        was_up = False
        while not stop.is_set():
            try:
                client = await self._connect(self._handlers)
            except (AmiError, OSError) as exc:
                failures += 1
                delay = backoff_delay(failures, self._policy)
                log.warning("node %s: AMI login failed (%s); retrying in %.1f s",
                            self.node, exc, delay)
                await sleep_unless(stop, delay)
                continue
            up_since = time.monotonic()
            try:
                await self._observer.link_up(self.node, reconnect=was_up)
                was_up = True
                reason = await self._watch(client, stop)
            finally:
                await client.close()
            if reason:
                # A link that keeps dropping right after login backs off like a failed one.
                stable = time.monotonic() - up_since >= self._policy.stable_seconds
                failures = 1 if stable else failures + 1
                log.warning("node %s: AMI link lost: %s", self.node, reason)
                self._observer.link_down(self.node, reason)
                await sleep_unless(stop, backoff_delay(failures, self._policy))

    async def _watch(self, client: EventClient, stop: asyncio.Event) -> str | None:
        """Wait until stopped (None) or the link is lost (the reason)."""
        while True:
            waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(
                client.lost.wait())}
            done, pending = await asyncio.wait(waits, timeout=self._policy.ping_interval,
                                               return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if stop.is_set():
                return None
            if client.lost.is_set():
                return "connection closed by the node"
            if not done:
                try:
                    await client.action("Ping")
                except AmiError:
                    return (f"no answer to Ping within {self._policy.ping_timeout:g} s "
                            "(half-open link)")
