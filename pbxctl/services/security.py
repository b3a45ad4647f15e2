"""Security bans: source addresses refused by every node's SIP service for a while.

How a ban is enforced, and why this way: bans are rows in the database (``security_bans``),
rendered into ``pjsip_bans.conf`` as one PJSIP ACL (``type=acl``, a ``deny`` per address)
that ``pjsip.conf`` includes. res_pjsip_acl checks every incoming SIP request against it
before anything else and answers 403, so a banned scanner gets no challenge, no
registration and no call, even with the right password. The file is carried to each node
by the ordinary apply (plan, atomic write, ``Reload res_pjsip.so``, check, roll back),
limited to that one file so changes in the database not applied yet stay where they are.
This works wherever pbxctl reaches the node's config directory and AMI, needs no root and
no firewall on the node, and the bans survive restarts of Asterisk and of pbxctl. What it
does not do: stop the packets (the node's firewall does that), or guard AMI or RTP.

Limits the operator must know: for UDP the source address Asterisk reports can be forged,
so an attacker could get an address banned that it does not own. Carriers' ``match`` and
host addresses and ``ban_allow_networks`` (loopback by default; add the offices) are
therefore never banned, and at most ``ban_limit`` bans are active at once (past it, new
offenders are only logged), so the ACL stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl import names
from pbxctl.bans import IpAddress, IpNetwork, allowed, canonical, network_of, parse_network
from pbxctl.db.models import Carrier, SecurityBan, utcnow
from pbxctl.errors import ConflictError, NotFoundError, ValidationError
from pbxctl.services.audit import AuditTrail
from pbxctl.services.deploy import NodeApplied, apply_nodes
from pbxctl.services.read.bans import active_bans, count_active
from pbxctl.settings import Settings
from pbxctl.webhooks.events import security_banned_event
from pbxctl.webhooks.outbox import enqueue

if TYPE_CHECKING:
    from pbxctl.services.bundle import UnitOfWork

BANS_ONLY = (names.ASTERISK.bans_file,)
EXPIRED_BY = "expiry"


class AlreadyBanned(ConflictError):
    """The address is banned already."""


class SecurityService:
    """Bans: made (by ``serve`` or an operator), listed, lifted and expired; each change
    audited, each new ban announced as a ``security.banned`` webhook event."""

    def __init__(self, session: AsyncSession, audit: AuditTrail, settings: Settings) -> None:
        self._session = session
        self._audit = audit
        self._settings = settings

    async def never_banned(self) -> list[IpNetwork]:
        """The networks no ban may cover: ``ban_allow_networks`` and every carrier's
        match and host addresses (a host name covers nothing)."""
        carriers = (await self._session.scalars(select(Carrier))).all()
        found = [network_of(entry) for c in carriers for entry in (*c.match, c.host)]
        return [*(parse_network(n) for n in self._settings.ban_allow_networks),
                *(n for n in found if n is not None)]

    async def bans(self, everything: bool = False) -> Sequence[SecurityBan]:
        """Bans in force, by address; with ``everything`` also those lifted or expired,
        newest first."""
        if not everything:
            return await active_bans(self._session, utcnow())
        return (await self._session.scalars(
            select(SecurityBan).order_by(SecurityBan.banned_at.desc(),
                                         SecurityBan.id.desc()))).all()

    async def ban(self, address: IpAddress, seconds: float, reason: str,
                  failures: int = 0) -> SecurityBan:
        """Ban ``address`` for ``seconds``; refused for a never-banned address, one
        banned already, or when ``ban_limit`` bans are in force."""
        address = canonical(address)
        if not 0 < seconds <= 366 * 86400:
            raise ValidationError("seconds", "a ban lasts from 1 second to 366 days")
        if not (0 < len(reason) <= 200 and reason.isprintable()):
            raise ValidationError("reason", "1 to 200 printable characters, on one line")
        if allowed(address, await self.never_banned()):
            raise ValidationError("address", f"{address} is in a network never banned "
                                             "(ban_allow_networks or a carrier's addresses)")
        now = utcnow()
        if any(b.address == str(address) for b in await active_bans(self._session, now)):
            raise AlreadyBanned(f"{address} is banned already", "address")
        active = await count_active(self._session, now)
        if active >= self._settings.ban_limit:
            raise ConflictError(f"{active} bans are in force, the most ban_limit allows; "
                                f"{address} is not banned")
        row = SecurityBan(address=str(address), reason=reason, failures=failures,
                          banned_at=now, expires_at=now + timedelta(seconds=seconds))
        self._session.add(row)
        await self._session.flush()
        self._audit.record("security.ban", "address", row.address, after=_snapshot(row),
                           detail=row.reason)
        await enqueue(self._session, [security_banned_event(
            row.id, row.address, row.reason, failures, row.banned_at, row.expires_at)])
        return row

    async def unban(self, address: IpAddress) -> None:
        """Lift the ban in force on ``address``."""
        address = canonical(address)
        lifted = [b for b in await active_bans(self._session, utcnow())
                  if b.address == str(address)]
        if not lifted:
            raise NotFoundError(f"{address} is not banned", "address")
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
    """Carry the bans in force to every node (``pjsip_bans.conf`` only)."""
    return await apply_nodes(unit, None, only=BANS_ONLY)


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
