"""The security bans in force: what every node's ACL refuses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from pbxctl.db.models import SecurityBan


async def active_bans(session: AsyncSession, now: datetime) -> Sequence[SecurityBan]:
    """Bans neither lifted nor expired at ``now``, by address."""
    return (await session.scalars(
        select(SecurityBan).where(*_in_force(now))
        .order_by(SecurityBan.address, SecurityBan.id))).all()


async def count_active(session: AsyncSession, now: datetime) -> int:
    """How many bans are in force at ``now``."""
    return await session.scalar(
        select(func.count()).select_from(SecurityBan)
        .where(*_in_force(now))) or 0


def _in_force(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return SecurityBan.lifted_at.is_(None), SecurityBan.expires_at > now
