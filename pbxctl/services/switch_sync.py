"""Put a node's switches right: its AstDB crisis and recording families made to hold
exactly what the database says for the branches it serves (its own and those it is the
standby of). ``pbxctl apply`` does it after each node's apply, so a standby that was down
when a switch changed takes it once it is back.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl import names
from pbxctl.asterisk.ami import AmiClient
from pbxctl.db.models import Branch, CrisisSwitch, Extension, Node, PhoneNumber, RecordingRule
from pbxctl.destinations import parse_destination
from pbxctl.services.live_switches import astdb_delete, astdb_put, crisis_key, crisis_value
from pbxctl.services.node_state import read_family
from pbxctl.services.read.desired_state import serves

Switches = dict[str, dict[str, str]]   # AstDB family -> key -> value


async def wanted_switches(session: AsyncSession, node: Node) -> Switches:
    """What ``node``'s crisis and recording families should hold."""
    crisis: dict[str, str] = {}
    record: dict[str, str] = {}
    switches = (await session.scalars(
        select(CrisisSwitch).join(Branch, CrisisSwitch.branch_id == Branch.id)
        .where(serves(node)).options(selectinload(CrisisSwitch.branch)))).all()
    for switch in switches:
        crisis[switch.branch.slug] = crisis_value(
            parse_destination("destination", switch.destination))
        if switch.record:
            record[crisis_key(switch.branch.slug)] = "1"
    served = {
        "branch": set((await session.scalars(select(Branch.slug).where(serves(node)))).all()),
        "number": set((await session.scalars(
            select(PhoneNumber.e164).join(PhoneNumber.branch).where(serves(node)))).all()),
        "ext": set((await session.scalars(
            select(Extension.number).join(Extension.branch).where(serves(node)))).all()),
    }
    for rule in (await session.scalars(select(RecordingRule))).all():
        if rule.target in served.get(rule.scope, set()):
            record[names.ASTERISK.record_key(rule.scope, rule.target)] = "1"
    return {names.ASTERISK.crisis_family: crisis, names.ASTERISK.record_family: record}


async def put_switches(ami: AmiClient, wanted: Switches) -> int:
    """Make the node's families hold ``wanted``: stale keys deleted, missing or different
    ones written. Returns how many keys changed."""
    changed = 0
    for family, keys in wanted.items():
        held = {key: value for _, key, value in await read_family(ami, family)}
        for key in sorted(held.keys() - keys.keys()):
            await astdb_delete(ami, family, key)
            changed += 1
        for key, value in sorted(keys.items()):
            if held.get(key) != value:
                await astdb_put(ami, family, key, value)
                changed += 1
    return changed
