"""Checking that a destination points at something that exists, and that a forward to an
outside number is a call its branch may make."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl.db.models import Branch, CallQueue, Extension, NumberingPrefix, PhoneNumber
from pbxctl.destinations import Destination
from pbxctl.errors import NotFoundError, ValidationError
from pbxctl.numbering import PlanEntry, number_class


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


async def check_forward(session: AsyncSession, field: str, dest: Destination,
                        branch: str) -> None:
    """Refuse ``external:`` forwards that ``branch`` (which pays for them) could not dial:
    a class its outbound policy does not allow, or any number without a policy. Apply
    renders the same check into the dialplan, for plans and policies changed later."""
    if dest.kind != "external":
        return
    payer = await session.scalar(select(Branch).where(Branch.slug == branch)
                                 .options(selectinload(Branch.outbound)))
    if payer is None or payer.outbound is None:
        raise ValidationError(field, f"branch {branch!r} has no outbound policy, so it "
                                     f"cannot forward calls to {dest.target}")
    plan = [PlanEntry(r.prefix, r.dest_class)
            for r in (await session.scalars(select(NumberingPrefix))).all()]
    dest_class = number_class(dest.target, plan, payer.outbound.country_code)
    allowed = payer.outbound.allowed_classes
    if dest_class is None or dest_class not in allowed:
        what = dest_class or "in no numbering plan class"
        raise ValidationError(field, f"{dest.target} is {what}; branch {branch!r} may call "
                                     f"only {', '.join(allowed) or 'no'} numbers")


async def numbers_routed_to(session: AsyncSession, *targets: str) -> list[str]:
    """Numbers whose route or after-hours destination is one of ``targets``."""
    query = (select(PhoneNumber.e164)
             .where(PhoneNumber.route.in_(targets) | PhoneNumber.after_hours.in_(targets))
             .order_by(PhoneNumber.e164))
    return list((await session.scalars(query)).all())
