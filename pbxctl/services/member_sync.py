"""Put a standby's queue members right: for each branch a node is the standby of, the
dynamic members of the branch's queues made the same as on the branch's node.

The branch's node holds the truth: every member change (``queue login`` and the like)
goes to it first and fails when it is down, and phones log in and out there (their
calls go to the branch's node while it answers). A standby that was down when a member
changed, or a phone's feature code that reached the node only, is caught up by
``pbxctl apply`` of the standby. Static members come from queues.conf, rendered alike on
both nodes, and are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl import names
from pbxctl.asterisk.ami import AmiClient
from pbxctl.asterisk.apply import AmiConnector
from pbxctl.db.models import Branch, CallQueue, Node
from pbxctl.errors import AmiError


@dataclass(frozen=True)
class DynamicMember:
    """A queue member logged in at run time, as QueueStatus shows it."""

    interface: str
    name: str
    paused: bool
    state_interface: str


Members = dict[str, dict[str, DynamicMember]]   # queue section -> interface -> member
Action = tuple[str, dict[str, str]]             # a SYNC_ACTIONS key and the action's fields
# The AMI action behind each change (their rights: pbxctl/ami_rights.py).
SYNC_ACTIONS = {"remove": "QueueRemove", "add": "QueueAdd", "pause": "QueuePause"}


@dataclass(frozen=True)
class StandbyQueues:
    """The queues of a branch a node is the standby of, and the branch's own node."""

    branch: str
    node: str
    queues: tuple[str, ...]      # their sections in Asterisk
    connect: AmiConnector        # to the branch's node


async def standby_queues(session: AsyncSession, node: Node,
                         connect_to: Callable[[Node], AmiConnector]) -> list[StandbyQueues]:
    """Every branch with queues ``node`` is the standby of, by slug; ``connect_to``
    gives the connector of a branch's node."""
    branches = (await session.scalars(
        select(Branch).where(Branch.standby_node_id == node.id).order_by(Branch.slug)
        .options(selectinload(Branch.node)))).all()
    found = []
    for branch in branches:
        queues = (await session.scalars(
            select(CallQueue.name).where(CallQueue.branch_id == branch.id)
            .order_by(CallQueue.name))).all()
        if queues:
            found.append(StandbyQueues(
                branch.slug, branch.node.name,
                tuple(names.ASTERISK.queue_section(branch.slug, q) for q in queues),
                connect_to(branch.node)))
    return found


def dynamic_members(events: Sequence[dict[str, str]], queues: Collection[str]) -> Members:
    """The dynamic members of ``queues`` in a QueueStatus answer's events (every queue
    named, members or not)."""
    found: Members = {queue: {} for queue in queues}
    for event in events:
        queue = event.get("Queue", "")
        if (event.get("Event") != "QueueMember" or queue not in found
                or event.get("Membership") != "dynamic"):
            continue
        interface = event.get("Location", "")
        found[queue][interface] = DynamicMember(
            interface, event.get("Name", interface), event.get("Paused") == "1",
            event.get("StateInterface", ""))
    return found


def member_actions(wanted: Members, held: Members) -> list[Action]:
    """The changes (:data:`SYNC_ACTIONS` keys, with their fields) that make ``held`` (a
    standby's) into ``wanted`` (the node's), queue by queue: members gone removed, new
    ones added as they are (paused or not), a member paused on one node and not the
    other (un)paused."""
    actions: list[Action] = []
    for queue, members in sorted(wanted.items()):
        there = held.get(queue, {})
        for interface in sorted(there.keys() - members.keys()):
            actions.append(("remove", {"Queue": queue, "Interface": interface}))
        for interface, member in sorted(members.items()):
            if interface not in there:
                fields = {"Queue": queue, "Interface": interface, "MemberName": member.name,
                          "Paused": "true" if member.paused else "false"}
                if member.state_interface:
                    fields["StateInterface"] = member.state_interface
                actions.append(("add", fields))
            elif there[interface].paused != member.paused:
                actions.append(("pause", {
                    "Queue": queue, "Interface": interface,
                    "Paused": "true" if member.paused else "false", "Reason": "pbxctl"}))
    return actions


async def read_members(ami: AmiClient, queues: Collection[str]) -> Members:
    """The dynamic members of ``queues`` on a node."""
    response = await ami.action("QueueStatus")
    if not response.success:
        raise AmiError(f"QueueStatus failed: {response.message}")
    return dynamic_members(response.events, queues)


@dataclass(frozen=True)
class MembersSynced:
    """What syncing a standby's queue members did."""

    changed: int = 0                 # AMI actions the standby took
    errors: tuple[str, ...] = ()     # per branch: why its members were not put right


async def sync_members(standby: AmiClient, branches: Sequence[StandbyQueues]) -> MembersSynced:
    """Make the standby's members of each branch's queues those of the branch's node. A
    branch whose node cannot be read, or whose change the standby refuses, is reported
    and the others are still synced."""
    changed = 0
    errors = []
    for branch in branches:
        try:
            node = await branch.connect()
            try:
                wanted = await read_members(node, branch.queues)
            finally:
                await node.close()
        except (AmiError, OSError) as error:
            errors.append(f"branch {branch.branch}: its node {branch.node} could not be "
                          f"read: {error}")
            continue
        try:
            for kind, fields in member_actions(wanted, await read_members(
                    standby, branch.queues)):
                response = await standby.action(SYNC_ACTIONS[kind], fields)
                if not response.success:
                    raise AmiError(f"{SYNC_ACTIONS[kind]} {fields['Interface']} in "
                                   f"{fields['Queue']}: {response.message}")
                changed += 1
        except AmiError as error:
            errors.append(f"branch {branch.branch}: {error}")
    return MembersSynced(changed, tuple(errors))
