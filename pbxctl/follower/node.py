"""Following one node for as long as pbxctl runs: its AMI link kept alive, its events
handled, and what an outage hid caught up from its Master.csv."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.ami_events import OutboundLeg, SecurityFailure
from pbxctl.asterisk.ami import AmiEndpoint
from pbxctl.asterisk.link import DEFAULT_POLICY, AmiLink, LinkPolicy, panoramisk_connector
from pbxctl.billing.records import StoredCdr
from pbxctl.db.faults import DEFAULT_STORAGE, StoragePolicy
from pbxctl.db.models import Node
from pbxctl.db.session import transaction
from pbxctl.follower.catch_up import CatchUp, catch_up
from pbxctl.follower.events import EVENT_CLASSES, EventObserver, NodeEvents
from pbxctl.services.cdrs import ImportSummary
from pbxctl.settings import Settings
from pbxctl.stopping import sleep_unless, wait_either

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowedNode:
    """A node as the follower needs it."""

    name: str
    endpoint: AmiEndpoint
    cdr_csv: str | None


def followed(node: Node) -> FollowedNode:
    """The follower's view of a stored node."""
    return FollowedNode(node.name, AmiEndpoint(node.ami_host, node.ami_port, node.ami_user,
                                               node.ami_secret), node.cdr_csv)


async def all_nodes(engine: AsyncEngine) -> list[FollowedNode]:
    """Every node pbxctl manages."""
    async with transaction(engine) as session:
        return [followed(n) for n in (await session.scalars(
            select(Node).order_by(Node.name))).all()]


class LinkMetrics(EventObserver, Protocol):
    """Told how a node's link and catch-up are doing (for /metrics)."""

    def link_state(self, node: str, connected: bool) -> None:
        """The link came up or went down."""
        ...

    def reconnected(self, node: str) -> None:
        """The link came back after it was lost."""
        ...

    def catch_up_ran(self, node: str, ok: bool, inserted: int) -> None:
        """A Master.csv catch-up ended (``inserted`` calls the live link had missed)."""
        ...

    def watch_unstored(self, node: str, oldest: Callable[[], float | None]) -> None:
        """``oldest()`` tells when the node's oldest call not yet stored arrived."""
        ...


@dataclass(frozen=True)
class FollowPolicy:
    """How a node is followed: its AMI link, storage retries and catch-ups."""

    link: LinkPolicy = DEFAULT_POLICY
    storage: StoragePolicy = DEFAULT_STORAGE
    catch_up_every: float = 60.0   # seconds between routine Master.csv catch-ups


DEFAULT_FOLLOW = FollowPolicy()


def follow_policy(settings: Settings) -> FollowPolicy:
    """The follow policy the settings describe."""
    return FollowPolicy(
        link=LinkPolicy(ping_interval=settings.ami_ping_interval,
                        ping_timeout=settings.ami_ping_timeout,
                        backoff_max=settings.ami_backoff_max),
        storage=StoragePolicy(max_delay=settings.storage_retry_max,
                              give_up_after=settings.storage_give_up),
        catch_up_every=settings.cdr_catch_up_every)


# A CDR handed to the catch-up is surely in Master.csv this long after it came live.
HAND_OVER_SETTLE_SECONDS = 1.0


class NodeFollower:
    """One node's link, event handling and catch-up, run together.

    Catch-ups from Master.csv run after every (re)connect, as soon as the live path hands
    calls over (storage failed for too long), and every ``catch_up_every`` seconds; one
    that fails is tried again with backoff until it works. A routine catch-up reads only
    what was written before the previous one, so calls whose live events are still on
    their way are left to the live link.
    """

    def __init__(self, engine: AsyncEngine, node: FollowedNode,
                 policy: FollowPolicy = DEFAULT_FOLLOW, metrics: LinkMetrics | None = None,
                 say: Callable[[str], None] = log.info,
                 on_stored: Callable[[StoredCdr], None] | None = None,
                 on_failure: Callable[[str, SecurityFailure], None] | None = None,
                 on_outbound: Callable[[OutboundLeg], None] | None = None,
                 on_link_down: Callable[[str], None] | None = None) -> None:
        self._engine = engine
        self._node = node
        self._policy = policy
        self._metrics = metrics
        self._say = say
        self._wanted = asyncio.Event()
        self._handed_over: float | None = None    # oldest call left to the catch-up
        self._last_hand_over = 0.0
        self._settled: int | None = None          # file size before the last catch-up
        self._on_link_down = on_link_down
        self.events = NodeEvents(engine, node.name, metrics, on_stored, policy.storage,
                                 self._hand_over if node.cdr_csv else None, on_failure,
                                 on_outbound=on_outbound)
        self._link = AmiLink(node.name, panoramisk_connector(node.endpoint, EVENT_CLASSES,
                                                             policy.link),
                             self.events.handlers(), self, policy.link)
        if metrics:
            metrics.watch_unstored(node.name, self.oldest_unstored)

    def oldest_unstored(self) -> float | None:
        """When the oldest call not stored yet arrived (monotonic), live or handed over."""
        times = [t for t in (self.events.oldest_unstored(), self._handed_over)
                 if t is not None]
        return min(times) if times else None

    async def run(self, stop: asyncio.Event) -> ImportSummary:
        """Follow until ``stop`` is set; returns what was stored from live CDRs."""
        others = [self._link.run(stop)]
        if self._node.cdr_csv:
            others.append(self._catch_up_until(stop, self._node.cdr_csv))
        handling = asyncio.ensure_future(self.events.run(stop))
        await asyncio.gather(handling, *others)
        return handling.result()

    def _hand_over(self, received: float) -> None:
        if self._handed_over is None or received < self._handed_over:
            self._handed_over = received
        self._last_hand_over = time.monotonic()
        self._wanted.set()

    async def link_up(self, node: str, reconnect: bool) -> None:
        """Logged in: count it, then have Master.csv caught up for what the link missed."""
        self._say(f"node {node}: AMI link {'back up' if reconnect else 'up'}")
        if self._metrics:
            self._metrics.link_state(node, True)
            if reconnect:
                self._metrics.reconnected(node)
        self._wanted.set()

    def link_down(self, node: str, reason: str) -> None:
        """The link is gone: count it; the link reconnects by itself."""
        self._say(f"node {node}: AMI link lost ({reason}); reconnecting")
        if self._on_link_down:
            self._on_link_down(node)
        if self._metrics:
            self._metrics.link_state(node, False)

    async def _catch_up_until(self, stop: asyncio.Event, path: str) -> None:
        failures = 0
        while not stop.is_set():
            routine = not await wait_either(self._wanted, stop, self._policy.catch_up_every)
            if stop.is_set():
                return
            self._wanted.clear()
            started = time.monotonic()
            size = _size(path)
            if routine and self._settled is None:   # nothing caught up yet to go on from
                self._settled = size
                continue
            try:
                async with transaction(self._engine) as session:
                    done = await catch_up(session, self._node.name, path,
                                          self._settled if routine else None)
            except Exception as error:  # storage down, file unreadable: try again
                failures += 1
                log.warning("node %s: catching up from %s failed (%s: %s); retrying",
                            self._node.name, path, type(error).__name__, error)
                if self._metrics:
                    self._metrics.catch_up_ran(self._node.name, False, 0)
                self._wanted.set()
                await sleep_unless(stop, self._policy.storage.delay(failures))
                continue
            failures = 0
            self._settled = size
            if self._metrics:
                self._metrics.catch_up_ran(self._node.name, True, _inserted(done))
            self._report(done, routine)
            if not routine and self._handed_over is not None:
                if started - self._last_hand_over >= HAND_OVER_SETTLE_SECONDS:
                    self._handed_over = None       # this read covered every call handed over
                else:                              # handed over a moment ago: read again soon
                    self._wanted.set()
                    await sleep_unless(stop, HAND_OVER_SETTLE_SECONDS)

    def _report(self, done: CatchUp | None, routine: bool) -> None:
        node = self._node.name
        if done is None:
            if not routine:              # said after a (re)connect, not every minute
                self._say(f"node {node}: {self._node.cdr_csv} not found; no catch-up")
            return
        s = done.summary
        if s is None:
            self._say(f"node {node}: following {done.path} from byte {done.to_offset}")
        elif s.inserted:
            self._say(f"node {node}: caught up {s.rows} CDR rows from {done.path}: "
                      f"{s.inserted} missed live, {s.duplicates} already stored")


def _inserted(done: CatchUp | None) -> int:
    return done.summary.inserted if done and done.summary else 0


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None
