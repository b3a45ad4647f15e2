"""serve's brute-force bans: failed requests counted per source (IPv4 address, IPv6 /64)
across every node, offenders banned and the bans carried to the nodes within seconds,
bans lifted when their time is up. A burst of offenders costs one apply (a reload of
res_pjsip on every node) per ``APPLY_EVERY`` seconds at most, whatever their number.

The nodes' security events arrive through each node's event handling
(:meth:`BanKeeper.failure`, no I/O); one task bans, expires and applies. How a ban is
enforced and its limits: :mod:`pbxctl.services.security`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pbxctl.addresses import IpAddress, IpNetwork, network_of, overlaps, parse_network
from pbxctl.ami_events import SecurityFailure
from pbxctl.bans import BanPolicy
from pbxctl.db.models import utcnow
from pbxctl.errors import PbxctlError
from pbxctl.failures import FailureCounter
from pbxctl.services.bundle import UnitOfWork
from pbxctl.services.security import AlreadyBanned, apply_bans
from pbxctl.stopping import wait_either

log = logging.getLogger(__name__)
REFRESH_SECONDS = 15.0     # re-read bans and never-banned networks (operators change them)
RETRY_SECONDS = 2.5        # after a failed ban or apply, doubling each time...
RETRY_MAX = 300.0          # ...up to this (each failed apply is an audit row)
APPLY_EVERY = 5.0          # seconds between two applies at least (each reloads res_pjsip)


class BanMetrics(Protocol):
    """Told about failures and bans (for /metrics)."""

    def security_failure(self, node: str, kind: str) -> None:
        """A node reported a failed request."""
        ...

    def banned(self) -> None:
        """A source was banned."""
        ...

    def displaced(self) -> None:
        """A ban was lifted early to make room (``ban_limit`` bans were in force)."""
        ...


@dataclass(frozen=True)
class Offence:
    """An address that failed too often, to be banned."""

    address: IpAddress
    failures: int
    reason: str


def apply_wait(now: float, applied_at: float | None, every: float = APPLY_EVERY) -> float:
    """Seconds until the bans may be applied again (0: now), the last apply having
    started at ``applied_at``."""
    return 0.0 if applied_at is None else max(0.0, applied_at + every - now)


class BanKeeper:
    """Counts failures, bans offenders, carries bans to the nodes and lifts them."""

    def __init__(self, unit: UnitOfWork, policy: BanPolicy,
                 metrics: BanMetrics | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._unit = unit
        self._policy = policy
        self._metrics = metrics
        self._clock = clock
        self._counter: FailureCounter[IpNetwork] = FailureCounter(policy.after,
                                                                  policy.window, clock)
        self._never: list[IpNetwork] = []
        self._banned: set[IpNetwork] = set()
        self._offences: list[Offence] = []
        self._wake = asyncio.Event()

    def failure(self, node: str, event: SecurityFailure) -> None:
        """A failed request reported by ``node``: counted against its source."""
        if self._metrics:
            self._metrics.security_failure(node, event.kind)
        if event.address is None:
            return
        network = network_of(event.address)
        if network in self._banned or overlaps(network, self._never):
            return
        failures = self._counter.failed(network)
        if failures is None:
            return
        self._banned.add(network)      # until stored: later failures change nothing
        self._offences.append(Offence(event.address, failures, (
            f"{failures} failed requests in {self._policy.window:g} s, last {event.kind} "
            f"({event.service[:20]!r} account {event.account[:40]!r}) on node {node}"
        )[:200]))
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Ban, expire and apply until ``stop`` is set. Starts by carrying the bans in
        force to the nodes (some may have ended, or been made, while serve was down)."""
        pending = True             # bans changed and not carried to every node yet
        refreshed: float | None = None
        applied_at: float | None = None
        failures = 0
        while not stop.is_set():
            next_expiry: datetime | None = None
            hold = 0.0
            try:
                if refreshed is None or self._clock() - refreshed >= REFRESH_SECONDS:
                    await self._refresh()
                    refreshed = self._clock()
                pending = await self._ban_offenders() or pending
                async with self._unit() as s:
                    expired = await s.security.expire()
                    next_expiry = await s.security.next_expiry()
                for address in expired:
                    log.info("ban of %s ended", address)
                    self._forget(parse_network(address))
                pending = pending or bool(expired)
                hold = apply_wait(self._clock(), applied_at)
                if pending and not hold:
                    applied_at = self._clock()
                    pending = not await self._apply()
                    failures = min(failures + 1, 10) if pending else 0
            except Exception as error:   # storage down: try again shortly
                log.warning("security bans: %s: %s; retrying", type(error).__name__, error)
                pending = True
                failures = min(failures + 1, 10)
            wait = REFRESH_SECONDS
            if pending:
                wait = max(hold, min(RETRY_SECONDS * 2 ** failures, RETRY_MAX)
                           if failures else 0.0)
            if next_expiry is not None:
                wait = min(wait, max(0.1, (next_expiry - utcnow()).total_seconds()))
            self._wake.clear()
            if not self._offences:
                await wait_either(self._wake, stop, wait)

    async def _refresh(self) -> None:
        async with self._unit() as s:
            self._never = await s.security.never_banned()
            active = {parse_network(b.address) for b in await s.security.bans()}
        pending = {network_of(o.address) for o in self._offences}
        for network in self._banned - active - pending:   # lifted by an operator
            self._forget(network)
        self._banned |= active

    async def _ban_offenders(self) -> bool:
        """Store the offences waiting; True when a ban was made. An offence refused (the
        source became never-banned or is banned already) is logged."""
        made = False
        while self._offences:          # one left in place when storage fails
            offence = self._offences[0]
            try:
                async with self._unit() as s:
                    made_now = await s.security.ban(offence.address, self._policy.ban_for,
                                                    offence.reason, offence.failures)
            except AlreadyBanned:
                pass
            except PbxctlError as refused:
                log.warning("not banning %s: %s", offence.address, refused)
                self._forget(network_of(offence.address))
            else:
                made = True
                ban = made_now.ban
                log.warning("banned %s until %s: %s", ban.address,
                            ban.expires_at.isoformat(timespec="seconds"), ban.reason)
                if made_now.displaced is not None:
                    self._forget(parse_network(made_now.displaced.address))
                if self._metrics:
                    self._metrics.banned()
                    if made_now.displaced is not None:
                        self._metrics.displaced()
            self._offences.pop(0)
        return made

    async def _apply(self) -> bool:
        """Carry the bans to every node; True when every node took them."""
        ok = True
        for node in await apply_bans(self._unit):
            if node.error:
                ok = False
                log.error("node %s: could not apply the bans: %s", node.node, node.error)
            elif node.applied:
                log.info("node %s: bans applied", node.node)
        return ok

    def _forget(self, network: IpNetwork) -> None:
        self._banned.discard(network)
        self._counter.forget(network)


