"""Switches that act on a running node at once, through AMI and AstDB, without a reload:
the crisis switch of a branch and on-demand recording.

The database keeps what was switched (for status, the audit trail and the next node); the
node keeps it in AstDB, so it survives an Asterisk restart and calls never wait for pbxctl.
A branch's switches go to its node and to its standby (``branch_nodes``): a standby that
is down is reported in ``standby_misses``, and ``pbxctl apply`` puts its switches right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl import names
from pbxctl import validation as v
from pbxctl.asterisk.ami import AmiClient
from pbxctl.db.models import Branch, CrisisSwitch, Extension, PhoneNumber, RecordingRule
from pbxctl.destinations import Destination
from pbxctl.errors import AmiError, NotFoundError, ValidationError
from pbxctl.services.audit import AuditTrail
from pbxctl.services.branch_nodes import Change, Connector, StandbyMiss, on_branch_nodes
from pbxctl.services.routing import check_forward, checked_destination

CRISIS_KINDS = ("ext", "branch", "external", "voicemail", "hangup")
RECORD_SCOPES = ("number", "branch", "ext")


@dataclass(frozen=True)
class CrisisState:
    """A branch under the crisis switch."""

    branch: str
    destination: str
    record: bool
    since: datetime


def crisis_value(dest: Destination) -> str:
    """A crisis destination as AstDB holds it: ``kind/target`` (``:`` would read as a
    substring in ``${...}``)."""
    return f"{dest.kind}/{dest.target}"


def crisis_key(branch: str) -> str:
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
        self.standby_misses: list[StandbyMiss] = []   # what standbys missed, for a warning

    async def _on_nodes(self, branch: Branch, what: str, change: Change) -> None:
        miss = await on_branch_nodes(self._connect, self._audit, branch, what, change)
        if miss is not None:
            self.standby_misses.append(miss)

    async def crisis_on(self, branch: str | None, destination: Destination,
                        record: bool = False) -> list[CrisisState]:
        """Send every number of ``branch`` (None: of every branch) to ``destination``."""
        dest = await checked_destination(self._session, "to", destination)
        if dest.kind not in CRISIS_KINDS:
            raise ValidationError("to", f"a crisis destination is one of "
                                          f"{', '.join(CRISIS_KINDS)}")
        value = crisis_value(dest)
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
            await self._on_nodes(target, "crisis on", _crisis_on(target.slug, value, record))
            self._audit.record("crisis.on", "branch", target.slug, before=before,
                               after={"destination": str(dest), "record": record})
            states.append(CrisisState(target.slug, str(dest), record, switch.since))
        return states

    async def crisis_off(self, branch: str | None) -> list[str]:
        """Give the branch's (or every branch's) numbers their own routes back."""
        released = []
        for target in await self._branches(branch):
            switch = await self._session.get(CrisisSwitch, target.id)
            await self._on_nodes(target, "crisis off", _crisis_off(target.slug))
            if switch is not None:
                self._audit.record("crisis.off", "branch", target.slug,
                                   before={"destination": switch.destination,
                                           "record": switch.record})
                await self._session.delete(switch)
                released.append(target.slug)
        return released

    async def record_on(self, scope: str, target: str) -> None:
        """Record incoming calls of a number, a branch or an extension from now on."""
        branch = await self._rule_branch(scope, target)
        if await self._rule(scope, target) is None:
            self._session.add(RecordingRule(scope=scope, target=target))
            await self._session.flush()
        key = names.ASTERISK.record_key(scope, target)

        async def put(ami: AmiClient) -> None:
            await astdb_put(ami, names.ASTERISK.record_family, key, "1")

        await self._on_nodes(branch, f"record on {scope} {target}", put)
        self._audit.record("record.on", scope, target)

    async def record_off(self, scope: str, target: str) -> None:
        """Stop recording a number, a branch or an extension."""
        branch = await self._rule_branch(scope, target)
        rule = await self._rule(scope, target)
        if rule is None:
            raise NotFoundError(f"{scope} {target} is not being recorded")
        key = names.ASTERISK.record_key(scope, target)

        async def delete(ami: AmiClient) -> None:
            await astdb_delete(ami, names.ASTERISK.record_family, key)

        await self._on_nodes(branch, f"record off {scope} {target}", delete)
        await self._session.delete(rule)
        self._audit.record("record.off", scope, target)

    async def recording_rules(self) -> Sequence[RecordingRule]:
        """What is being recorded."""
        return (await self._session.scalars(
            select(RecordingRule).order_by(RecordingRule.scope, RecordingRule.target))).all()

    async def _rule(self, scope: str, target: str) -> RecordingRule | None:
        return await self._session.scalar(select(RecordingRule).where(
            RecordingRule.scope == scope, RecordingRule.target == target))

    async def _rule_branch(self, scope: str, target: str) -> Branch:
        """The branch whose nodes must record, after checking that the target exists."""
        nodes = (selectinload(Branch.node), selectinload(Branch.standby_node))
        if scope == "number":
            query = (select(PhoneNumber).where(PhoneNumber.e164 == v.e164("number", target))
                     .options(*(selectinload(PhoneNumber.branch).options(n) for n in nodes)))
            found = await self._session.scalar(query)
            if found is None:
                raise NotFoundError(f"number {target} is not in the inventory")
            return found.branch
        if scope == "ext":
            ext_query = (select(Extension).where(
                Extension.number == v.extension_number("ext", target))
                .options(*(selectinload(Extension.branch).options(n) for n in nodes)))
            extension = await self._session.scalar(ext_query)
            if extension is None:
                raise NotFoundError(f"no extension {target}")
            return extension.branch
        (branch,) = await self._branches(target)
        return branch

    async def _branches(self, slug: str | None) -> list[Branch]:
        query = (select(Branch).options(selectinload(Branch.node),
                                        selectinload(Branch.standby_node))
                 .order_by(Branch.slug))
        if slug is not None:
            query = query.where(Branch.slug == v.slug("branch", slug))
        branches = list((await self._session.scalars(query)).all())
        if slug is not None and not branches:
            raise NotFoundError(f"no branch {slug!r}")
        return branches


def _crisis_on(branch: str, value: str, record: bool) -> Change:
    async def change(ami: AmiClient) -> None:
        await astdb_put(ami, names.ASTERISK.crisis_family, branch, value)
        if record:
            await astdb_put(ami, names.ASTERISK.record_family, crisis_key(branch), "1")
        else:
            await astdb_delete(ami, names.ASTERISK.record_family, crisis_key(branch))
    return change


def _crisis_off(branch: str) -> Change:
    async def change(ami: AmiClient) -> None:
        await astdb_delete(ami, names.ASTERISK.crisis_family, branch)
        await astdb_delete(ami, names.ASTERISK.record_family, crisis_key(branch))
    return change
