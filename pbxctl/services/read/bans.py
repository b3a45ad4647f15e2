"""The security bans in force: what every node's ACL refuses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import SecurityBan


async def active_bans(session: AsyncSession, now: datetime) -> Sequence[SecurityBan]:
    """Bans neither lifted nor expired at ``now``, by address."""
    return (await session.scalars(
        select(SecurityBan).where(SecurityBan.lifted_at.is_(None),
                                  SecurityBan.expires_at > now)
        .order_by(SecurityBan.address, SecurityBan.id))).all()
