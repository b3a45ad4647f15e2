"""Queue members on a branch's node and its standby, two sandbox nodes: a login goes to
both; while the standby (node-b) is down, a logout, a login and a pause reach node-a
only (a warning each); node-b restarts with the members it had stored, and ``pbxctl
apply`` of node-b makes them node-a's again."""

from __future__ import annotations

import re
import uuid

from sandboxkit import sandbox

from tests.conftest import Pbxctl

# A member line of ``queue show``: "201 (Local/201@... from PJSIP/201) ... (dynamic) ..."
_MEMBER_RE = re.compile(r"^\s+(?P<name>\S+) \(Local/.*\(dynamic\)(?P<rest>.*)$", re.MULTILINE)


def dynamic_members(queue: str, node: str) -> dict[str, bool]:
    """The dynamic members of ``queue`` on ``node``, each with whether it is paused."""
    shown = sandbox.cli(f"queue show {queue}", node)
    return {m["name"]: "paused" in m["rest"] for m in _MEMBER_RE.finditer(shown)}


def test_apply_gives_the_standby_the_members_it_missed(two_nodes: Pbxctl) -> None:
    pbxctl = two_nodes
    branch = f"q{uuid.uuid4().hex[:6]}"     # the nodes' AstDB keeps earlier runs' members
    queue = f"q-{branch}-sales"
    pbxctl.ok("branch", "add", branch, "--name", "Kazan", "--city", "Kazan", "--timezone",
              "Europe/Moscow", "--ext-range", "200-299", "--node", "node-a",
              "--standby-node", "node-b")
    for number, name in (("201", "Anna"), ("202", "Boris")):
        pbxctl.ok("ext", "add", branch, number, "--name", name)
    pbxctl.ok("queue", "add", branch, "sales")
    applied = pbxctl.ok("apply")
    assert "members" not in applied.stderr, applied.stderr
    pbxctl.ok("queue", "login", "202", "--queue", f"{branch}/sales")
    for node in ("node-a", "node-b"):
        assert dynamic_members(queue, node) == {"202": False}, node

    sandbox.stop("node-b")
    try:
        for action, number in (("logout", "202"), ("login", "201"), ("pause", "201")):
            missed = pbxctl.ok("queue", action, number, "--queue", f"{branch}/sales").stderr
            assert "standby node node-b of branch" in missed, missed
    finally:
        sandbox.start("node-b")
    assert dynamic_members(queue, "node-a") == {"201": True}
    assert dynamic_members(queue, "node-b") == {"202": False}    # as it had stored them

    applied = pbxctl.ok("apply", "--node", "node-b")
    assert ("node node-b: made 2 change(s) to the queue members of the branches it is the "
            "standby of (as on their node).") in applied.stderr, applied.stderr
    assert dynamic_members(queue, "node-b") == {"201": True}
    again = pbxctl.ok("apply", "--node", "node-b")
    assert "queue members" not in again.stderr, again.stderr
