"""A standby's queue members made like its branch node's: which AMI actions that takes
(pure), and the sync against fake Asterisks, a node that cannot be read reported per
branch while the other branches are still synced."""

from __future__ import annotations

from pathlib import Path

from pbxctl.errors import AmiError
from pbxctl.services.member_sync import (
    DynamicMember,
    StandbyQueues,
    dynamic_members,
    member_actions,
    sync_members,
)
from tests.asterisk.fake_asterisk import FakeAsterisk, Member

A201, A202, A203 = (f"Local/{n}@pbxctl-queue-agent/n" for n in ("201", "202", "203"))
SALES, SUPPORT = "q-kazan-sales", "q-kazan-support"


def member(interface: str, paused: bool = False) -> DynamicMember:
    extension = interface[6:9]
    return DynamicMember(interface, extension, paused, f"PJSIP/{extension}")


def test_members_gone_are_removed_new_ones_added_and_pauses_copied() -> None:
    wanted = {SALES: {A201: member(A201, paused=True), A202: member(A202)}, SUPPORT: {}}
    held = {SALES: {A202: member(A202, paused=True), A203: member(A203)},
            SUPPORT: {A201: member(A201)}}
    assert member_actions(wanted, held) == [
        ("remove", {"Queue": SALES, "Interface": A203}),
        ("add", {"Queue": SALES, "Interface": A201, "MemberName": "201",
                      "Paused": "true", "StateInterface": "PJSIP/201"}),
        ("pause", {"Queue": SALES, "Interface": A202, "Paused": "false",
                        "Reason": "pbxctl"}),
        ("remove", {"Queue": SUPPORT, "Interface": A201})]
    assert member_actions(wanted, wanted) == []


def test_only_the_dynamic_members_of_the_queues_asked_for_are_read() -> None:
    events = [
        {"Event": "QueueParams", "Queue": SALES},
        {"Event": "QueueMember", "Queue": SALES, "Name": "201", "Location": A201,
         "StateInterface": "PJSIP/201", "Membership": "dynamic", "Paused": "1"},
        {"Event": "QueueMember", "Queue": SALES, "Name": "202", "Location": A202,
         "Membership": "static", "Paused": "0"},
        {"Event": "QueueMember", "Queue": "q-omsk-support", "Name": "301",
         "Location": "Local/301@pbxctl-queue-agent/n", "Membership": "dynamic"}]
    assert dynamic_members(events, (SALES, SUPPORT)) == {
        SALES: {A201: member(A201, paused=True)}, SUPPORT: {}}


class Unreachable:
    async def __call__(self) -> FakeAsterisk:
        raise AmiError("cannot reach AMI of nc")


def fake(tmp_path: Path, name: str, queues: dict[str, dict[str, Member]]) -> FakeAsterisk:
    (tmp_path / name).mkdir()
    return FakeAsterisk(tmp_path / name, queues=queues)


async def test_the_standby_takes_the_nodes_members_and_a_node_down_is_reported(
        tmp_path: Path) -> None:
    node = fake(tmp_path, "na", {SALES: {A201: Member("201", dynamic=True, paused=True),
                                         A202: Member("202", dynamic=False)},
                                 SUPPORT: {}})
    standby = fake(tmp_path, "nb", {SALES: {A202: Member("202", dynamic=False),
                                            A203: Member("203", dynamic=True)},
                                    SUPPORT: {}, "q-omsk-x": {}})
    kazan = StandbyQueues("kazan", "na", (SALES, SUPPORT), node.connect)
    synced = await sync_members(standby, [kazan])
    assert (synced.changed, synced.errors) == (2, ())
    assert {i: (m.dynamic, m.paused) for i, m in standby.queues[SALES].items()} == {
        A201: (True, True), A202: (False, False)}
    assert (await sync_members(standby, [kazan])).changed == 0

    node.queues[SALES][A201].paused = False
    down = StandbyQueues("perm", "nc", ("q-perm-sales",), Unreachable())
    synced = await sync_members(standby, [down, kazan])
    assert synced.changed == 1 and not standby.queues[SALES][A201].paused
    assert synced.errors == ("branch perm: its node nc could not be read: cannot reach AMI "
                             "of nc",)
