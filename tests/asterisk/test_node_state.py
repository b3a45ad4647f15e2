"""A node's run-time state read and put back over AMI (against the fake Asterisk): what a
backup keeps of its AstDB, pbxctl's families made to hold exactly that again, and queue
members logged in again as they were."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pbxctl.errors import AmiError
from pbxctl.services.node_state import put_state, read_nodes, read_state
from tests.asterisk.fake_asterisk import FakeAsterisk, Member

AGENT = "Local/202@pbxctl-queue-agent/n"


def _node(tmp_path: Path) -> FakeAsterisk:
    fake = FakeAsterisk(tmp_path)
    fake.queues = {"q-kazan-sales": {"Local/201@pbxctl-queue-agent/n":
                                     Member("201", dynamic=False)}}
    fake.astdb = {"pbxctl-crisis/kazan": "ext/201", "pbxctl-record/crisis-kazan": "1",
                  "registrar/contact/201": "not ours",
                  "Queue/PersistentMembers/q-kazan-sales":
                      f"{AGENT};0;1;202;PJSIP/202;;0"}
    return fake


def test_the_kept_families_are_read_and_nothing_else(tmp_path: Path) -> None:
    assert asyncio.run(read_state(_node(tmp_path))) == [
        ("pbxctl-crisis", "kazan", "ext/201"),
        ("pbxctl-record", "crisis-kazan", "1"),
        ("Queue/PersistentMembers", "q-kazan-sales", f"{AGENT};0;1;202;PJSIP/202;;0")]


def test_state_goes_back_exactly_and_agents_log_in_again(tmp_path: Path) -> None:
    backed_up = asyncio.run(read_state(_node(tmp_path)))
    node = _node(tmp_path)
    node.astdb = {"pbxctl-spend/omsk": "blocked", "registrar/contact/201": "not ours"}

    put = asyncio.run(put_state(node, "local", backed_up))

    assert node.astdb == {"pbxctl-crisis/kazan": "ext/201",
                          "pbxctl-record/crisis-kazan": "1",
                          "registrar/contact/201": "not ours"}
    agent = node.queues["q-kazan-sales"][AGENT]
    assert (agent.name, agent.dynamic) == ("202", True)
    assert ("QueueAdd", {"Queue": "q-kazan-sales", "Interface": AGENT, "Penalty": "0",
                         "Paused": "true", "MemberName": "202",
                         "StateInterface": "PJSIP/202"}) in node.actions
    assert (put.entries, put.removed, put.members) == (2, 1, 1)
    again = asyncio.run(put_state(node, "local", backed_up))     # already there: fine
    assert (again.removed, again.members) == (0, 1)


def test_a_queue_that_is_gone_is_said(tmp_path: Path) -> None:
    node = _node(tmp_path)
    node.queues = {}
    with pytest.raises(AmiError, match="logging 202 into q-kazan-sales again failed"):
        asyncio.run(put_state(node, "local", asyncio.run(read_state(_node(tmp_path)))))


def test_a_node_that_does_not_answer_is_named_with_its_reason(tmp_path: Path) -> None:
    async def refused() -> FakeAsterisk:
        raise AmiError("cannot reach AMI at 10.0.0.9:5038: refused")

    states, missing = asyncio.run(read_nodes([("local", _node(tmp_path).connect),
                                              ("omsk", refused)]))
    assert [name for name, _ in states] == ["local"]
    assert missing == [("omsk", "cannot reach AMI at 10.0.0.9:5038: refused")]
