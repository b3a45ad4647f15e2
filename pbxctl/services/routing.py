"""Checking that a destination points at something that exists."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import Branch, CallQueue, Extension, PhoneNumber
from pbxctl.destinations import Destination
from pbxctl.errors import NotFoundError


async def checked_destination(session: AsyncSession, field: str, dest: Destination
                              ) -> Destination:
    """``dest``, once its extension, branch or queue is known to exist."""
    if dest.kind in ("ext", "voicemail"):
        found = await session.scalar(select(Extension.id).where(Extension.number == dest.target))
        if found is None:
            raise NotFoundError(f"no extension {dest.target}", field)
    elif dest.kind == "branch":
        found = await session.scalar(select(Branch.id).where(Branch.slug == dest.target))
        if found is None:
            raise NotFoundError(f"no branch {dest.target!r}", field)
    elif dest.kind == "queue":
        branch, _, name = dest.target.partition("/")
        found = await session.scalar(select(CallQueue.id).join(CallQueue.branch).where(
            Branch.slug == branch, CallQueue.name == name))
        if found is None:
            raise NotFoundError(f"no queue {dest.target!r}", field)
    return dest


async def numbers_routed_to(session: AsyncSession, *targets: str) -> list[str]:
    """Numbers whose route or after-hours destination is one of ``targets``."""
    query = (select(PhoneNumber.e164)
             .where(PhoneNumber.route.in_(targets) | PhoneNumber.after_hours.in_(targets))
             .order_by(PhoneNumber.e164))
    return list((await session.scalars(query)).all())
