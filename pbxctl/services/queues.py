"""Branch call queues: configuration, and members logging in, out and pausing at run time
over AMI (no reload; dynamic members persist in AstDB across applies and restarts)."""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl import names
from pbxctl import validation as v
from pbxctl.asterisk.ami import AmiClient
from pbxctl.db.models import Branch, CallQueue, Extension, Node
from pbxctl.destinations import Destination
from pbxctl.errors import AmiError, ConflictError, NotFoundError, ValidationError
from pbxctl.services.audit import AuditTrail, Snapshot
from pbxctl.services.branch_nodes import Change, StandbyMiss, on_branch_nodes
from pbxctl.services.routing import check_forward, checked_destination, numbers_routed_to

STRATEGIES = ("ringall", "leastrecent", "rrmemory")
# Asterisk keeps a config section's name in 80 bytes, with its terminating NUL.
MAX_SECTION_NAME = 79
# The AMI action behind each member action (their rights: pbxctl/ami_rights.py).
MEMBER_ACTIONS = {"login": "QueueAdd", "logout": "QueueRemove", "pause": "QueuePause",
                  "unpause": "QueuePause"}


# A queue's branch with the nodes its members' changes go to.
_BRANCH_NODES = selectinload(CallQueue.branch).options(
    selectinload(Branch.node), selectinload(Branch.standby_node))


def queue_section(branch: str, name: str) -> str:
    """The queue's name in Asterisk (its queues.conf section)."""
    return names.ASTERISK.queue_section(branch, name)


def member_interface(extension: str) -> str:
    """How a queue rings an extension: every device of the phone, through a Local channel."""
    return names.ASTERISK.queue_member(extension)


@dataclass(frozen=True)
class QueueSpec:
    """A queue as the operator describes it; ``None`` keeps the current value."""

    strategy: str | None = None
    members: tuple[str, ...] | None = None
    max_wait: int | None = None
    service_level: int | None = None
    target: int | None = None
    overflow: Destination | None = None


def queue_snapshot(queue: CallQueue) -> Snapshot:
    """A queue's settings as the audit trail and ``--json`` show them."""
    return {"queue": queue.ref, "strategy": queue.strategy, "members": list(queue.members),
            "max_wait": queue.max_wait, "service_level": queue.service_level,
            "target": queue.target_percent, "overflow": queue.overflow}


class QueueService:
    """Adds, changes and removes queues."""

    def __init__(self, session: AsyncSession, audit: AuditTrail) -> None:
        self._session = session
        self._audit = audit

    async def add(self, branch_slug: str, name: str, spec: QueueSpec) -> CallQueue:
        """A new queue of a branch (90 % within 20 s unless told otherwise)."""
        branch = await self._branch(branch_slug)
        v.slug("name", name)
        if len(queue_section(branch.slug, name)) > MAX_SECTION_NAME:
            raise ValidationError("name", f"queue {branch.slug}/{name} would be named "
                                          f"{queue_section(branch.slug, name)!r} in Asterisk, "
                                          f"longer than {MAX_SECTION_NAME} characters")
        if await self._find(branch.slug, name) is not None:
            raise ConflictError(f"queue {branch.slug}/{name} already exists")
        queue = CallQueue(branch=branch, name=name, strategy="ringall", members=[],
                          max_wait=60, service_level=20, target_percent=90)
        await self._fill(queue, spec)
        self._session.add(queue)
        await self._session.flush()
        self._audit.record("queue.add", "queue", queue.ref, after=queue_snapshot(queue))
        return queue

    async def update(self, ref: str, spec: QueueSpec) -> CallQueue:
        """Change some settings of a queue."""
        queue = await self.get(ref)
        before = queue_snapshot(queue)
        await self._fill(queue, spec)
        if queue_snapshot(queue) != before:
            self._audit.record("queue.update", "queue", ref, before=before,
                               after=queue_snapshot(queue))
        return queue

    async def remove(self, ref: str) -> None:
        """Remove a queue no number routes to."""
        queue = await self.get(ref)
        routed = await numbers_routed_to(self._session, f"queue:{ref}")
        if routed:
            raise ConflictError(f"{', '.join(routed)} still route to queue {ref}")
        self._audit.record("queue.remove", "queue", ref, before=queue_snapshot(queue))
        await self._session.delete(queue)

    async def list(self) -> Sequence[CallQueue]:
        """Every queue, by branch and name."""
        return (await self._session.scalars(
            select(CallQueue).join(CallQueue.branch).order_by(Branch.slug, CallQueue.name)
            .options(_BRANCH_NODES))).all()

    async def get(self, ref: str) -> CallQueue:
        """The queue ``branch/name``."""
        branch, _, name = ref.partition("/")
        queue = await self._find(v.slug("queue", branch), v.slug("queue", name or "x"))
        if queue is None:
            raise NotFoundError(f"no queue {ref!r}")
        return queue

    async def _fill(self, queue: CallQueue, spec: QueueSpec) -> None:
        if spec.strategy is not None:
            if spec.strategy not in STRATEGIES:
                raise ValidationError("strategy", f"use one of {', '.join(STRATEGIES)}")
            queue.strategy = spec.strategy
        if spec.members is not None:
            queue.members = await self._members(spec.members)
        for field, value, low, high in (("max_wait", spec.max_wait, 5, 3600),
                                        ("service_level", spec.service_level, 1, 600),
                                        ("target", spec.target, 1, 100)):
            if value is not None and not low <= value <= high:
                raise ValidationError(field, f"must be between {low} and {high}")
        queue.max_wait = spec.max_wait or queue.max_wait
        queue.service_level = spec.service_level or queue.service_level
        queue.target_percent = spec.target or queue.target_percent
        if spec.overflow is not None:
            dest = await checked_destination(self._session, "overflow", spec.overflow)
            if str(dest) == f"queue:{queue.branch.slug}/{queue.name}":
                raise ValidationError("overflow", "a queue cannot overflow into itself")
            await check_forward(self._session, "overflow", dest, queue.branch.slug)
            queue.overflow = str(dest)

    async def _members(self, numbers: Sequence[str]) -> builtins.list[str]:
        for number in numbers:
            v.extension_number("members", number)
            if await self._session.scalar(
                    select(Extension.id).where(Extension.number == number)) is None:
                raise NotFoundError(f"no extension {number}", "members")
        return list(dict.fromkeys(numbers))

    async def _branch(self, slug: str) -> Branch:
        branch = await self._session.scalar(
            select(Branch).where(Branch.slug == v.slug("branch", slug)))
        if branch is None:
            raise NotFoundError(f"no branch {slug!r}")
        return branch

    async def _find(self, branch: str, name: str) -> CallQueue | None:
        return await self._session.scalar(
            select(CallQueue).join(CallQueue.branch)
            .where(Branch.slug == branch, CallQueue.name == name)
            .options(_BRANCH_NODES))


class QueueMembers:
    """Members at run time: act on the node at once over AMI."""

    def __init__(self, queues: QueueService,
                 connect: Callable[[Node], Awaitable[AmiClient]], audit: AuditTrail) -> None:
        self._queues = queues
        self._connect = connect
        self._audit = audit
        self.standby_misses: list[StandbyMiss] = []   # what standbys missed, for a warning

    async def act(self, action: str, extension: str, ref: str | None) -> list[str]:
        """``login``, ``logout``, ``pause`` or ``unpause`` an extension in one queue, or
        (pause/unpause, logout) in every queue it belongs to. Returns the queues touched."""
        v.extension_number("EXT", extension)
        if ref is not None:
            queues = [await self._queues.get(ref)]
        elif action == "login":
            raise ValidationError("queue", "say which queue to log in to")
        else:
            queues = [q for q in await self._queues.list() if extension in q.members]
            if not queues:
                raise NotFoundError(f"extension {extension} is in no queue; give `queue`")
        interface = member_interface(extension)
        for queue in queues:
            section = queue_section(queue.branch.slug, queue.name)
            fields = {"Queue": section, "Interface": interface}
            if action == "login":
                fields |= {"MemberName": extension, "StateInterface": f"PJSIP/{extension}"}
            elif action in ("pause", "unpause"):
                fields |= {"Paused": "true" if action == "pause" else "false",
                           "Reason": "pbxctl"}
            miss = await on_branch_nodes(self._connect, self._audit, queue.branch,
                                         f"queue {action} {extension} in {queue.ref}",
                                         _member_change(action, extension, queue.ref, fields))
            if miss is not None:
                self.standby_misses.append(miss)
            self._audit.record(f"queue.{action}", "queue", queue.ref, detail=extension)
        return [q.ref for q in queues]


def _member_change(action: str, extension: str, ref: str, fields: dict[str, str]) -> Change:
    """One member action on a node, refused when app_queue refuses it."""
    async def change(ami: AmiClient) -> None:
        response = await ami.action(MEMBER_ACTIONS[action], fields)
        if not response.success:
            raise AmiError(f"{action} {extension} in {ref}: {response.message}")
    return change
