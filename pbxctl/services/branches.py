"""Branches: sales sites with an extension range, a time zone and a node."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl import validation as v
from pbxctl.db.models import Branch, CallQueue, Node, PhoneNumber
from pbxctl.errors import ConflictError, NotFoundError, ValidationError
from pbxctl.services.audit import AuditTrail, Snapshot
from pbxctl.services.extensions import extension_snapshot
from pbxctl.services.nodes import NodeService
from pbxctl.services.policies import WEEKDAYS, policy_snapshot
from pbxctl.services.routing import numbers_routed_to


@dataclass(frozen=True)
class BranchSpec:
    """What an operator gives to add a branch."""

    slug: str
    name: str
    city: str
    timezone: str
    ext_range: str
    node: str | None = None
    standby_node: str | None = None
    language: str = v.DEFAULT_LANGUAGE


def branch_snapshot(branch: Branch) -> Snapshot:
    """Fields of a branch as the audit trail and ``--json`` show them."""
    return {
        "slug": branch.slug, "name": branch.name, "city": branch.city,
        "timezone": branch.timezone, "language": branch.language,
        "ext_range": branch.ext_range, "node": branch.node.name,
        "standby_node": branch.standby_node.name if branch.standby_node else None,
    }


def branch_details(branch: Branch) -> Snapshot:
    """A branch with its outbound policy, hours, holidays and extensions (``branch show``)."""
    return {**branch_snapshot(branch),
            "outbound": policy_snapshot(branch.outbound),
            "hours": [f"{WEEKDAYS[h.weekday - 1]} {h.opens}-{h.closes}" for h in branch.hours],
            "holidays": [h.day.isoformat() for h in branch.holidays],
            "extensions": [extension_snapshot(e) for e in branch.extensions]}


class BranchService:
    """Adds, lists, shows and removes branches."""

    def __init__(self, session: AsyncSession, audit: AuditTrail) -> None:
        self._session = session
        self._audit = audit

    async def add(self, spec: BranchSpec) -> Branch:
        """Validate and store a new branch; its range may not overlap another branch's."""
        slug = v.slug("slug", spec.slug)
        name = v.display_name("name", spec.name)
        city = v.display_name("city", spec.city)
        timezone = v.timezone("timezone", spec.timezone)
        language = v.language("language", spec.language)
        start, end = v.extension_range("ext_range", spec.ext_range)
        node = await NodeService(self._session, self._audit, ()).resolve(spec.node)
        standby = await self._standby(node, spec.standby_node)
        if await self._find(slug) is not None:
            raise ConflictError(f"branch {slug!r} already exists")
        for other in await self.list():
            if start <= other.ext_end and other.ext_start <= end:
                raise ConflictError(
                    f"{start}-{end} overlaps branch {other.slug!r} ({other.ext_range}); "
                    "extension numbers are unique company-wide", "ext_range")
        branch = Branch(slug=slug, name=name, city=city, timezone=timezone,
                        language=language, ext_start=start, ext_end=end, node=node,
                        standby_node=standby)
        self._session.add(branch)
        await self._session.flush()
        self._audit.record("branch.add", "branch", slug, after=branch_snapshot(branch))
        return branch

    async def set_standby(self, slug: str, standby_node: str | None) -> Branch:
        """Give branch ``slug`` a standby node (another node than its own), or none."""
        branch = await self.get(slug)
        standby = await self._standby(branch.node, standby_node)
        return self._changed(branch, lambda: setattr(branch, "standby_node", standby))

    async def set_language(self, slug: str, language: str) -> Branch:
        """Set what branch ``slug``'s phones speak (they read it at their next fetch)."""
        branch = await self.get(slug)
        chosen = v.language("language", language)
        return self._changed(branch, lambda: setattr(branch, "language", chosen))

    def _changed(self, branch: Branch, change: Callable[[], None]) -> Branch:
        """Make ``change`` to ``branch``, audited when it changed anything."""
        before = branch_snapshot(branch)
        change()
        after = branch_snapshot(branch)
        if after != before:
            self._audit.record("branch.update", "branch", branch.slug, before=before,
                               after=after)
        return branch

    async def _standby(self, node: Node, name: str | None) -> Node | None:
        if name is None:
            return None
        standby = await NodeService(self._session, self._audit, ()).resolve(name,
                                                                             "standby_node")
        if standby.id == node.id:
            raise ValidationError("standby_node", f"{name!r} is the branch's own `node`; "
                                                  "a standby must be another node")
        return standby

    async def list(self) -> Sequence[Branch]:
        """All branches by slug, with node, extensions and outbound policy loaded."""
        query = (select(Branch).order_by(Branch.slug)
                 .options(selectinload(Branch.node), selectinload(Branch.standby_node),
                          selectinload(Branch.extensions), selectinload(Branch.outbound)))
        return (await self._session.scalars(query)).all()

    async def get(self, slug: str) -> Branch:
        """The branch ``slug``, with node and extensions loaded."""
        branch = await self._find(slug)
        if branch is None:
            raise NotFoundError(f"no branch {slug!r}")
        return branch

    async def remove(self, slug: str, *, with_extensions: bool = False) -> None:
        """Remove a branch; its extensions too only when asked explicitly."""
        branch = await self.get(slug)
        owned = (await self._session.scalars(
            select(PhoneNumber.e164).where(PhoneNumber.branch_id == branch.id)
            .order_by(PhoneNumber.e164))).all()
        if owned:
            raise ConflictError(f"branch {slug!r} pays for {', '.join(owned)}; move them to "
                                "another branch or release them first")
        queues = (await self._session.scalars(
            select(CallQueue.name).where(CallQueue.branch_id == branch.id))).all()
        if queues:
            raise ConflictError(f"branch {slug!r} still has queue(s) {', '.join(queues)}; "
                                "remove them first ('pbxctl queue remove')")
        targets = [f"branch:{slug}"] + [f"{kind}:{e.number}" for e in branch.extensions
                                        for kind in ("ext", "voicemail")]
        routed = await numbers_routed_to(self._session, *targets)
        if routed:
            raise ConflictError(f"{', '.join(routed)} still ring in branch {slug!r}; route "
                                "them elsewhere first")
        if branch.extensions and not with_extensions:
            numbers = ", ".join(e.number for e in branch.extensions)
            raise ConflictError(f"branch {slug!r} still has extensions {numbers}; remove "
                                "them first or pass `with_extensions`")
        for extension in list(branch.extensions):
            self._audit.record("ext.remove", "extension", extension.number,
                               before={"number": extension.number, "branch": slug,
                                       "name": extension.display_name},
                               detail=f"removed with branch {slug}")
            await self._session.delete(extension)
        self._audit.record("branch.remove", "branch", slug, before=branch_snapshot(branch))
        await self._session.delete(branch)

    async def _find(self, slug: str) -> Branch | None:
        query = (select(Branch).where(Branch.slug == slug)
                 .options(selectinload(Branch.node), selectinload(Branch.standby_node),
                          selectinload(Branch.extensions),
                          selectinload(Branch.outbound), selectinload(Branch.hours),
                          selectinload(Branch.holidays)))
        return await self._session.scalar(query)
