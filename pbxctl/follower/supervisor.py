"""The background work of ``pbxctl serve``: a follower per node (nodes added or removed
while it runs are picked up), brute-force bans, the spend brake, webhook deliveries and
database-backed metrics, the scheduled backups and voicemail to e-mail."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.db.faults import is_transient
from pbxctl.follower.backups import BackupSchedule
from pbxctl.follower.bans import BanKeeper
from pbxctl.follower.in_flight import InFlightCalls
from pbxctl.follower.node import FollowedNode, FollowPolicy, NodeFollower, all_nodes
from pbxctl.follower.spend_brake import SpendBrake
from pbxctl.metrics import ServeMetrics
from pbxctl.stopping import sleep_unless
from pbxctl.voicemail.delivery import VoicemailMailer
from pbxctl.webhooks.delivery import RetryPolicy, run_deliveries

log = logging.getLogger(__name__)
NODES_REFRESH_SECONDS = 15.0
METRICS_REFRESH_SECONDS = 5.0


class Supervisor:
    """Starts, watches and stops the long-running tasks."""

    def __init__(self, engine: AsyncEngine, metrics: ServeMetrics, follow: FollowPolicy,
                 retry: RetryPolicy, bans: BanKeeper | None = None,
                 brake: SpendBrake | None = None,
                 in_flight: InFlightCalls | None = None,
                 backups: BackupSchedule | None = None,
                 mailer: VoicemailMailer | None = None) -> None:
        self._engine = engine
        self._mailer = mailer
        self._backups = backups
        self._in_flight = in_flight
        self._bans = bans
        self._brake = brake
        self._metrics = metrics
        self._follow = follow
        self._retry = retry
        self._stop = asyncio.Event()
        self._followers: dict[str, tuple[FollowedNode, asyncio.Event, asyncio.Task[object]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._retired: list[asyncio.Task[object]] = []

    def start(self) -> None:
        """Start everything in the running loop."""
        self._tasks = [
            asyncio.create_task(self._watch_nodes(), name="nodes"),
            asyncio.create_task(run_deliveries(self._engine, self._retry, self._metrics,
                                               self._stop), name="webhooks"),
            asyncio.create_task(self._refresh_metrics(), name="metrics"),
        ]
        if self._bans is not None:
            self._tasks.append(asyncio.create_task(self._bans.run(self._stop), name="bans"))
        if self._brake is not None:
            self._tasks.append(asyncio.create_task(self._brake.run(self._stop), name="spend"))
        if self._backups is not None:
            self._tasks.append(asyncio.create_task(self._backups.run(self._stop),
                                                   name="backups"))
        if self._mailer is not None:
            self._tasks.append(asyncio.create_task(self._mailer.run(self._stop),
                                                   name="voicemail-mail"))

    async def stop(self) -> None:
        """Stop everything: links log off, queued events are handled first."""
        self._stop.set()
        for _node, stop, _task in self._followers.values():
            stop.set()
        tasks = [t for *_, t in self._followers.values()] + self._retired + self._tasks
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch_nodes(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync(await all_nodes(self._engine))
            except Exception as error:
                if not is_transient(error):   # storage down: the followers keep going
                    log.exception("could not read the nodes")
            await sleep_unless(self._stop, NODES_REFRESH_SECONDS)

    def _sync(self, nodes: list[FollowedNode]) -> None:
        wanted = {n.name: n for n in nodes}
        for name, (node, stop, task) in list(self._followers.items()):
            if task.done() and not task.cancelled() and task.exception():
                log.error("node %s: following stopped: %r; starting again", name,
                          task.exception())
            if wanted.get(name) != node or task.done():  # removed, changed or crashed
                stop.set()
                self._retired.append(task)
                del self._followers[name]
        for name, node in wanted.items():
            if name not in self._followers:
                stop = asyncio.Event()
                follower = NodeFollower(self._engine, node, self._follow, self._metrics,
                                        on_failure=self._bans.failure if self._bans else None,
                                        **self._in_flight_hooks(name))
                self._followers[name] = (node, stop, asyncio.create_task(
                    follower.run(stop), name=f"node-{name}"))

    def _in_flight_hooks(self, node: str) -> dict[str, Any]:
        """What tells the calls in flight about ``node``'s calls (none: nothing)."""
        flying = self._in_flight
        if flying is None:
            return {}
        return {"on_outbound": lambda event: flying.feed(node, event),
                "on_stored": lambda row: flying.stored(node, row),
                "on_link_down": flying.forget_node}

    async def _refresh_metrics(self) -> None:
        while not self._stop.is_set():
            try:
                await self._metrics.refresh_from_database(self._engine)
            except Exception as error:
                if not is_transient(error):
                    log.exception("could not refresh metrics from the database")
            await sleep_unless(self._stop, METRICS_REFRESH_SECONDS)
