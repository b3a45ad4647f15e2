"""Switches that act on a running node at once, through AMI and AstDB, without a reload:
the crisis switch of a branch and on-demand recording.

The database keeps what was switched (for status, the audit trail and the next node); the
node keeps it in AstDB, so it survives an Asterisk restart and calls never wait for pbxctl.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl import names
from pbxctl import validation as v
from pbxctl.asterisk.ami import AmiClient
from pbxctl.db.models import Branch, CrisisSwitch, Extension, Node, PhoneNumber, RecordingRule
from pbxctl.destinations import Destination
from pbxctl.errors import AmiError, NotFoundError, ValidationError
from pbxctl.services.audit import AuditTrail
from pbxctl.services.routing import check_forward, checked_destination

CRISIS_KINDS = ("ext", "branch", "external", "voicemail", "hangup")
RECORD_SCOPES = ("number", "branch", "ext")

Connector = Callable[[Node], Awaitable[AmiClient]]


@dataclass(frozen=True)
class CrisisState:
    """A branch under the crisis switch."""

    branch: str
    destination: str
    record: bool
    since: datetime


def _crisis_key(branch: str) -> str:
    """The recording switch of a branch's crisis route."""
    return names.ASTERISK.record_key("crisis", branch)


async def astdb_put(ami: AmiClient, family: str, key: str, value: str) -> None:
    """Set ``family/key`` in the node's AstDB."""
    response = await ami.action("DBPut", {"Family": family, "Key": key, "Val": value})
    if not response.success:
        raise AmiError(f"AstDB put {family}/{key} failed: {response.message}")


async def astdb_delete(ami: AmiClient, family: str, key: str) -> None:
    """Remove ``family/key`` from the node's AstDB (nothing there: nothing to do)."""
    if not (await ami.action("DBGet", {"Family": family, "Key": key})).success:
        return  # nothing there
    response = await ami.action("DBDel", {"Family": family, "Key": key})
    if not response.success:
        raise AmiError(f"AstDB delete {family}/{key} failed: {response.message}")


async def crisis_states(session: AsyncSession) -> list[CrisisState]:
    """Branches under the crisis switch."""
    rows = (await session.scalars(
        select(CrisisSwitch).options(selectinload(CrisisSwitch.branch)))).all()
    return sorted((CrisisState(s.branch.slug, s.destination, s.record, s.since)
                   for s in rows), key=lambda s: s.branch)


class LiveSwitches:
    """Crisis switch and recording rules; each change reaches the node before it commits."""

    def __init__(self, session: AsyncSession, audit: AuditTrail, connect: Connector) -> None:
        self._session = session
        self._audit = audit
        self._connect = connect

    async def crisis_on(self, branch: str | None, destination: Destination,
                        record: bool = False) -> list[CrisisState]:
        """Send every number of ``branch`` (None: of every branch) to ``destination``."""
        dest = await checked_destination(self._session, "to", destination)
        if dest.kind not in CRISIS_KINDS:
            raise ValidationError("to", f"a crisis destination is one of "
                                          f"{', '.join(CRISIS_KINDS)}")
        value = f"{dest.kind}/{dest.target}"  # ':' would read as a substring in ${...}
        states = []
        targets = await self._branches(branch)
        for target in targets:
            await check_forward(self._session, "to", dest, target.slug)
        for target in targets:
            switch = await self._session.get(CrisisSwitch, target.id)
            before = ({"destination": switch.destination, "record": switch.record}
                      if switch else None)
            if switch is None:
                switch = CrisisSwitch(branch_id=target.id)
                self._session.add(switch)
            switch.destination, switch.record = str(dest), record
            await self._session.flush()
            async with _node(self._connect, target.node) as ami:
                await astdb_put(ami, names.ASTERISK.crisis_family, target.slug, value)
                if record:
                    await astdb_put(ami, names.ASTERISK.record_family,
                                    _crisis_key(target.slug), "1")
                else:
                    await astdb_delete(ami, names.ASTERISK.record_family,
                                       _crisis_key(target.slug))
            self._audit.record("crisis.on", "branch", target.slug, before=before,
                               after={"destination": str(dest), "record": record})
            states.append(CrisisState(target.slug, str(dest), record, switch.since))
        return states

    async def crisis_off(self, branch: str | None) -> list[str]:
        """Give the branch's (or every branch's) numbers their own routes back."""
        released = []
        for target in await self._branches(branch):
            switch = await self._session.get(CrisisSwitch, target.id)
            async with _node(self._connect, target.node) as ami:
                await astdb_delete(ami, names.ASTERISK.crisis_family, target.slug)
                await astdb_delete(ami, names.ASTERISK.record_family, _crisis_key(target.slug))
            if switch is not None:
                self._audit.record("crisis.off", "branch", target.slug,
                                   before={"destination": switch.destination,
                                           "record": switch.record})
                await self._session.delete(switch)
                released.append(target.slug)
        return released

    async def record_on(self, scope: str, target: str) -> None:
        """Record incoming calls of a number, a branch or an extension from now on."""
        node = await self._rule_node(scope, target)
        if await self._rule(scope, target) is None:
            self._session.add(RecordingRule(scope=scope, target=target))
            await self._session.flush()
        async with _node(self._connect, node) as ami:
            await astdb_put(ami, names.ASTERISK.record_family,
                       names.ASTERISK.record_key(scope, target), "1")
        self._audit.record("record.on", scope, target)

    async def record_off(self, scope: str, target: str) -> None:
        """Stop recording a number, a branch or an extension."""
        node = await self._rule_node(scope, target)
        rule = await self._rule(scope, target)
        if rule is None:
            raise NotFoundError(f"{scope} {target} is not being recorded")
        async with _node(self._connect, node) as ami:
            await astdb_delete(ami, names.ASTERISK.record_family,
                          names.ASTERISK.record_key(scope, target))
        await self._session.delete(rule)
        self._audit.record("record.off", scope, target)

    async def recording_rules(self) -> Sequence[RecordingRule]:
        """What is being recorded."""
        return (await self._session.scalars(
            select(RecordingRule).order_by(RecordingRule.scope, RecordingRule.target))).all()

    async def _rule(self, scope: str, target: str) -> RecordingRule | None:
        return await self._session.scalar(select(RecordingRule).where(
            RecordingRule.scope == scope, RecordingRule.target == target))

    async def _rule_node(self, scope: str, target: str) -> Node:
        """The node that must record, after checking that the target exists."""
        if scope == "number":
            query = (select(PhoneNumber).where(PhoneNumber.e164 == v.e164("number", target))
                     .options(selectinload(PhoneNumber.branch).selectinload(Branch.node)))
            found = await self._session.scalar(query)
            if found is None:
                raise NotFoundError(f"number {target} is not in the inventory")
            return found.branch.node
        if scope == "ext":
            ext_query = (select(Extension).where(
                Extension.number == v.extension_number("ext", target))
                .options(selectinload(Extension.branch).selectinload(Branch.node)))
            extension = await self._session.scalar(ext_query)
            if extension is None:
                raise NotFoundError(f"no extension {target}")
            return extension.branch.node
        (branch,) = await self._branches(target)
        return branch.node

    async def _branches(self, slug: str | None) -> list[Branch]:
        query = select(Branch).options(selectinload(Branch.node)).order_by(Branch.slug)
        if slug is not None:
            query = query.where(Branch.slug == v.slug("branch", slug))
        branches = list((await self._session.scalars(query)).all())
        if slug is not None and not branches:
            raise NotFoundError(f"no branch {slug!r}")
        return branches


@asynccontextmanager
async def _node(connect: Connector, node: Node) -> AsyncIterator[AmiClient]:
    """An AMI connection to ``node`` for the length of an ``async with`` block."""
    ami = await connect(node)
    try:
        yield ami
    finally:
        await ami.close()
