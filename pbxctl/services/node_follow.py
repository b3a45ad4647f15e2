"""Following one node for as long as pbxctl runs: its AMI link kept alive, its events
handled, and what an outage hid caught up from its Master.csv."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.asterisk.ami import AmiEndpoint
from pbxctl.asterisk.link import DEFAULT_POLICY, AmiLink, LinkPolicy, panoramisk_connector
from pbxctl.db.models import Node
from pbxctl.db.session import transaction
from pbxctl.services.cdr_backfill import CatchUp, catch_up
from pbxctl.services.cdr_follow import EVENT_CLASSES, EventObserver, NodeEvents
from pbxctl.services.cdrs import ImportSummary

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
    """Told how a node's link is doing (for /metrics)."""

    def link_state(self, node: str, connected: bool) -> None:
        """The link came up or went down."""
        ...

    def reconnected(self, node: str) -> None:
        """The link came back after it was lost."""
        ...


class NodeFollower:
    """One node's link, event handling and catch-up, run together."""

    def __init__(self, engine: AsyncEngine, node: FollowedNode,
                 policy: LinkPolicy = DEFAULT_POLICY, metrics: LinkMetrics | None = None,
                 say: Callable[[str], None] = log.info,
                 on_stored: Callable[[dict[str, str]], None] | None = None) -> None:
        self._engine = engine
        self._node = node
        self._metrics = metrics
        self._say = say
        self.events = NodeEvents(engine, node.name, metrics, on_stored)
        self._link = AmiLink(node.name, panoramisk_connector(node.endpoint, EVENT_CLASSES,
                                                             policy),
                             self.events.handlers(), self, policy)

    async def run(self, stop: asyncio.Event) -> ImportSummary:
        """Follow until ``stop`` is set; returns what was stored from live CDRs."""
        _, summary = await asyncio.gather(self._link.run(stop), self.events.run(stop))
        return summary

    async def link_up(self, node: str, reconnect: bool) -> None:
        """Logged in: count it, then catch up from Master.csv what the link missed."""
        self._say(f"node {node}: AMI link {'back up' if reconnect else 'up'}")
        if self._metrics:
            self._metrics.link_state(node, True)
            if reconnect:
                self._metrics.reconnected(node)
        if self._node.cdr_csv:
            try:
                async with transaction(self._engine) as session:
                    done = await catch_up(session, node, self._node.cdr_csv)
            except Exception:  # the live link matters more than one catch-up
                log.exception("node %s: catching up from %s failed", node,
                              self._node.cdr_csv)
                return
            self._report(node, done)

    def link_down(self, node: str, reason: str) -> None:
        """The link is gone: count it; the link reconnects by itself."""
        self._say(f"node {node}: AMI link lost ({reason}); reconnecting")
        if self._metrics:
            self._metrics.link_state(node, False)

    def _report(self, node: str, done: CatchUp | None) -> None:
        if done is None:
            self._say(f"node {node}: {self._node.cdr_csv} not found; no catch-up")
        elif done.summary is None:
            self._say(f"node {node}: following {done.path} from byte {done.to_offset}")
        elif done.summary.rows:
            s = done.summary
            self._say(f"node {node}: caught up {s.rows} CDR rows from {done.path}: "
                      f"{s.inserted} missed live, {s.duplicates} already stored")
