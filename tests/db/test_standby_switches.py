"""A branch's switches on its node and its standby (SQLite and PostgreSQL): both take
them; a standby that is down does not block the node, is reported and audited; the next
apply's sync puts the standby's crisis and recording families right."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import AuditEntry, Branch, Node
from pbxctl.destinations import Destination
from pbxctl.errors import AmiError
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.live_switches import LiveSwitches
from pbxctl.services.switch_sync import put_switches, wanted_switches
from tests.asterisk.fake_asterisk import FakeAsterisk
from tests.db.test_edge_state import company

__all__ = ["company"]


class Nodes:
    """A fake Asterisk per node; the nodes named in ``down`` cannot be reached."""

    def __init__(self, tmp_path: Path) -> None:
        self.fakes = {name: FakeAsterisk(tmp_path) for name in ("na", "nb")}
        self.down: set[str] = set()

    async def connect(self, node: Node) -> FakeAsterisk:
        if node.name in self.down:
            raise AmiError(f"cannot reach AMI of {node.name}")
        return self.fakes[node.name]

    def astdb(self, name: str) -> dict[str, str]:
        return self.fakes[name].astdb


@pytest.fixture
def nodes(tmp_path: Path) -> Nodes:
    return Nodes(tmp_path)


def _switches(session: AsyncSession, nodes: Nodes) -> LiveSwitches:
    return LiveSwitches(session, AuditTrail(session, Actor("tester", "cli")), nodes.connect)


async def _node(session: AsyncSession, name: str) -> Node:
    return (await session.scalars(select(Node).where(Node.name == name))).one()


async def test_a_crisis_and_a_recording_go_to_the_node_and_its_standby(
        session: AsyncSession, company: dict[str, Branch], nodes: Nodes) -> None:
    switches = _switches(session, nodes)
    await switches.crisis_on("kazan", Destination("ext", "201"), record=True)
    await switches.record_on("number", "+78435550101")
    for name in ("na", "nb"):
        assert nodes.astdb(name) == {"pbxctl-crisis/kazan": "ext/201",
                                     "pbxctl-record/crisis-kazan": "1",
                                     "pbxctl-record/number-+78435550101": "1"}, name
    assert switches.standby_misses == []
    await switches.record_on("branch", "omsk")        # no standby: its node only
    assert "pbxctl-record/branch-omsk" in nodes.astdb("nb")
    assert "pbxctl-record/branch-omsk" not in nodes.astdb("na")


async def test_a_standby_that_is_down_is_reported_and_put_right_by_the_sync(
        session: AsyncSession, company: dict[str, Branch], nodes: Nodes) -> None:
    switches = _switches(session, nodes)
    await switches.crisis_on("kazan", Destination("ext", "201"))
    nodes.down.add("nb")
    await switches.crisis_off("kazan")
    await switches.record_on("ext", "202")
    assert nodes.astdb("na") == {"pbxctl-record/ext-202": "1"}
    assert nodes.astdb("nb") == {"pbxctl-crisis/kazan": "ext/201"}     # what it missed
    assert [(m.node, m.branch, m.change) for m in switches.standby_misses] == [
        ("nb", "kazan", "crisis off"), ("nb", "kazan", "record on ext 202")]
    assert "the next apply of node nb puts it right" in str(switches.standby_misses[0])
    await session.flush()
    missed = (await session.scalars(select(AuditEntry).where(
        AuditEntry.action == "standby.missed").order_by(AuditEntry.id))).all()
    assert [(e.object_key, e.detail) for e in missed] == [
        ("nb", "crisis off of branch kazan: cannot reach AMI of nb"),
        ("nb", "record on ext 202 of branch kazan: cannot reach AMI of nb")]

    nodes.down.clear()     # back: the apply's sync makes it hold what the database says
    wanted = await wanted_switches(session, await _node(session, "nb"))
    assert await put_switches(nodes.fakes["nb"], wanted) == 2
    assert nodes.astdb("nb") == nodes.astdb("na")
    assert await put_switches(nodes.fakes["nb"], wanted) == 0


async def test_the_node_being_down_fails_the_switch(
        session: AsyncSession, company: dict[str, Branch], nodes: Nodes) -> None:
    nodes.down.add("na")
    with pytest.raises(AmiError, match="na"):
        await _switches(session, nodes).crisis_on("kazan", Destination("ext", "201"))
    assert nodes.astdb("nb") == {}


async def test_a_node_is_synced_with_the_switches_of_the_branches_it_serves_only(
        session: AsyncSession, company: dict[str, Branch], nodes: Nodes) -> None:
    switches = _switches(session, nodes)
    await switches.crisis_on("omsk", Destination("hangup", ""), record=True)
    await switches.record_on("number", "+78435550102")
    await switches.record_on("ext", "301")
    a = await wanted_switches(session, await _node(session, "na"))
    b = await wanted_switches(session, await _node(session, "nb"))
    assert a == {"pbxctl-crisis": {}, "pbxctl-record": {"number-+78435550102": "1"}}
    assert b == {"pbxctl-crisis": {"omsk": "hangup/"},
                 "pbxctl-record": {"crisis-omsk": "1", "ext-301": "1",
                                   "number-+78435550102": "1"}}
