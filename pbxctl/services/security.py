"""Security bans: sources refused by every node's SIP service for a while.

How a ban is enforced, and why this way: bans are rows in the database (``security_bans``),
rendered into ``pjsip_bans.conf`` as one PJSIP ACL (``type=acl``, a ``deny`` per source)
that ``pjsip.conf`` includes. res_pjsip_acl checks every incoming SIP request against it
before anything else and answers 403, so a banned scanner gets no challenge, no
registration and no call, even with the right password. The file is carried to each node
by the ordinary apply (plan, atomic write, ``Reload res_pjsip.so``, check, roll back),
limited to that one file so changes in the database not applied yet stay where they are;
a node whose ``pjsip.conf`` does not include the file yet (not fully applied since the
upgrade) is reported as failing instead, since the bans would not be read there. This
works wherever pbxctl reaches the node's config directory and AMI, needs no root and no
firewall on the node, and the bans survive restarts of Asterisk and of pbxctl. What it
does not do: stop the packets (the node's firewall does that), or guard AMI or RTP.

A source is an IPv4 address or an IPv6 /64 (:mod:`pbxctl.addresses`): an IPv6 attacker
holds a whole /64 and would otherwise step to a fresh address for each ban.

Limits the operator must know: for UDP the source address Asterisk reports can be forged,
so an attacker could get a source banned that it does not own. Carriers' ``match`` and
host addresses and ``ban_allow_networks`` (loopback by default; add the offices) are
therefore never banned, nor is a /64 that overlaps one of them. At most ``ban_limit`` bans
are in force, so the ACL stays small. When that many are, a new ban still goes in and the
ban that would end soonest is lifted early (audited as ``security.displaced``, logged,
counted): an attacker who forges many sources cannot switch banning off for everyone
else; the price is that a flood shortens the bans of earlier offenders.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl import names
from pbxctl.addresses import IpAddress, IpNetwork, canonical, network_of, overlaps, source
from pbxctl.bans import carrier_network, includes_bans
from pbxctl.db.models import Carrier, Edge, SecurityBan, utcnow
from pbxctl.errors import ConflictError, NotFoundError, ValidationError
from pbxctl.services.audit import AuditTrail
from pbxctl.services.deploy import NodeApplied, apply_nodes
from pbxctl.services.read.bans import active_bans
from pbxctl.settings import MAX_BAN_SECONDS, Settings
from pbxctl.webhooks.events import security_banned_event
from pbxctl.webhooks.outbox import enqueue

if TYPE_CHECKING:
    from pbxctl.services.bundle import UnitOfWork

BANS_ONLY = (names.ASTERISK.bans_file,)
EXPIRED_BY = "expiry"
DISPLACED_BY = "ban_limit"
PJSIP_CONF = "pjsip.conf"
NOT_INCLUDED = (f"pjsip.conf does not include {names.ASTERISK.bans_file}, so bans are not "
                "enforced here: run 'pbxctl apply' for this node")
log = logging.getLogger(__name__)


class AlreadyBanned(ConflictError):
    """The address is banned already."""


@dataclass(frozen=True)
class BanMade:
    """A new ban, and the ban lifted early to make room for it (``ban_limit``)."""

    ban: SecurityBan
    displaced: SecurityBan | None = None


def covers(ban: SecurityBan, address: IpAddress) -> bool:
    """True when ``ban`` refuses ``address`` (a row holds a source or, from before
    sources, a single IPv6 address)."""
    network = carrier_network(ban.address)
    return network is not None and overlaps(network_of(address), [network])


class SecurityService:
    """Bans: made (by ``serve`` or an operator), listed, lifted and expired; each change
    audited, each new ban announced as a ``security.banned`` webhook event."""

    def __init__(self, session: AsyncSession, audit: AuditTrail, settings: Settings) -> None:
        self._session = session
        self._audit = audit
        self._settings = settings

    async def never_banned(self) -> list[IpNetwork]:
        """The networks no ban may cover: ``ban_allow_networks``, every carrier's
        match and host addresses (a host name covers nothing) and every edge's address
        (all a node's carrier calls come from it)."""
        carriers = (await self._session.scalars(select(Carrier))).all()
        found = [carrier_network(entry) for c in carriers for entry in (*c.match, c.host)]
        found += [carrier_network(e) for e in (await self._session.scalars(
            select(Edge.sip_address))).all()]
        return [*self._settings.ban_allow_networks, *(n for n in found if n is not None)]

    async def bans(self, everything: bool = False) -> Sequence[SecurityBan]:
        """Bans in force, by address; with ``everything`` also those lifted or expired,
        newest first."""
        if not everything:
            return await active_bans(self._session, utcnow())
        return (await self._session.scalars(
            select(SecurityBan).order_by(SecurityBan.banned_at.desc(),
                                         SecurityBan.id.desc()))).all()

    async def ban(self, address: IpAddress, seconds: float, reason: str,
                  failures: int = 0) -> BanMade:
        """Ban the source of ``address`` (its IPv4 address, its IPv6 /64) for
        ``seconds``; refused when the source overlaps a never-banned network or is banned
        already. With ``ban_limit`` bans in force, the one ending soonest is lifted."""
        address = canonical(address)
        if not 0 < seconds <= MAX_BAN_SECONDS:
            raise ValidationError("seconds", "a ban lasts from 1 second to 366 days")
        if not (0 < len(reason) <= 200 and reason.isprintable()):
            raise ValidationError("reason", "1 to 200 printable characters, on one line")
        banned = source(address)
        if overlaps(network_of(address), await self.never_banned()):
            raise ValidationError("address", f"{banned} overlaps a network never banned "
                                             "(ban_allow_networks, a carrier's or an edge's "
                                             "addresses)")
        now = utcnow()
        active = await active_bans(self._session, now)
        if any(covers(b, address) for b in active):
            raise AlreadyBanned(f"{banned} is banned already", "address")
        displaced = None
        if len(active) >= self._settings.ban_limit:
            displaced = min(active, key=lambda b: (b.expires_at, b.id))
            self._lift(displaced, now, DISPLACED_BY, "security.displaced")
            log.warning("%d bans in force, the most ban_limit allows: the ban of %s lifted "
                        "early to ban %s", len(active), displaced.address, banned)
        row = SecurityBan(address=banned, reason=reason, failures=failures,
                          banned_at=now, expires_at=now + timedelta(seconds=seconds))
        self._session.add(row)
        await self._session.flush()
        self._audit.record("security.ban", "address", row.address, after=_snapshot(row),
                           detail=row.reason)
        await enqueue(self._session, [security_banned_event(
            row.id, row.address, row.reason, failures, row.banned_at, row.expires_at)])
        return BanMade(row, displaced)

    async def unban(self, address: IpAddress) -> None:
        """Lift the bans in force that cover ``address`` (for IPv6, its /64's)."""
        lifted = [b for b in await active_bans(self._session, utcnow()) if covers(b, address)]
        if not lifted:
            raise NotFoundError(f"{canonical(address)} is not banned", "address")
        for row in lifted:
            self._lift(row, utcnow(), self._audit.actor.name, "security.unban")

    async def expire(self) -> list[str]:
        """Lift the bans whose time is up; returns their addresses."""
        now = utcnow()
        due = (await self._session.scalars(
            select(SecurityBan).where(SecurityBan.lifted_at.is_(None),
                                      SecurityBan.expires_at <= now))).all()
        for row in due:
            self._lift(row, row.expires_at, EXPIRED_BY, "security.expired")
        return [row.address for row in due]

    async def next_expiry(self) -> datetime | None:
        """When the next ban in force ends."""
        return await self._session.scalar(
            select(func.min(SecurityBan.expires_at)).where(SecurityBan.lifted_at.is_(None)))

    def _lift(self, row: SecurityBan, at: datetime, by: str, action: str) -> None:
        before = _snapshot(row)
        row.lifted_at, row.lifted_by = at, by
        self._audit.record(action, "address", row.address, before=before,
                           after=_snapshot(row))


def _snapshot(row: SecurityBan) -> dict[str, object]:
    return {"address": row.address, "reason": row.reason, "failures": row.failures,
            "banned_at": row.banned_at.isoformat(), "expires_at": row.expires_at.isoformat(),
            "lifted_at": row.lifted_at.isoformat() if row.lifted_at else None,
            "lifted_by": row.lifted_by}


async def apply_bans(unit: UnitOfWork) -> list[NodeApplied]:
    """Carry the bans in force to every node (``pjsip_bans.conf`` only); a node whose
    ``pjsip.conf`` does not include that file is left alone and reported failing."""
    async with unit() as s:
        nodes = [(n.name, s.nodes.config_dir(n)) for n in await s.nodes.list()]
        unread = [name for name, config_dir in nodes if not _reads_bans(config_dir)]
        for name in unread:       # an apply failure: counted in pbxctl_apply_failures
            log.error("node %s: %s", name, NOT_INCLUDED)
            s.audit.record("apply.failed", "node", name,
                           detail=f"{names.ASTERISK.bans_file}: {NOT_INCLUDED}")
    ready = [name for name, _ in nodes if name not in unread]
    applied = await apply_nodes(unit, ready, only=BANS_ONLY) if ready else []
    return [*(NodeApplied(name, (), "", 0, error=NOT_INCLUDED) for name in unread), *applied]


def _reads_bans(config_dir: Path) -> bool:
    try:
        return includes_bans((config_dir / PJSIP_CONF).read_text())
    except (FileNotFoundError, UnicodeDecodeError):
        return False


async def ban_and_apply(unit: UnitOfWork, address: IpAddress, seconds: float,
                        reason: str) -> list[NodeApplied]:
    """The ``security ban`` use case: ban, then carry the bans to every node."""
    async with unit() as s:
        await s.security.ban(address, seconds, reason)
    return await apply_bans(unit)


async def unban_and_apply(unit: UnitOfWork, address: IpAddress) -> list[NodeApplied]:
    """The ``security unban`` use case: lift the ban, then carry the bans to every node."""
    async with unit() as s:
        await s.security.unban(address)
    return await apply_bans(unit)
