"""The routes that act on Asterisk — apply, status and queue members — through the real
AMI client against fake Asterisks on AMI sockets: files are written, modules reloaded and
verified, a refused reload is rolled back, members log in and pause as app_queue keeps
them, and ``status`` answers what ``pbxctl status --json`` prints."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from sqlalchemy import update

from pbxctl.db.models import Carrier
from pbxctl.db.session import transaction
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.edges import EdgeService, EdgeSpec
from tests.api.conftest import AMI_SECRET, MTS_SECRET, NODES, Api
from tests.asterisk.fake_asterisk import Member


def _queue(status: dict[str, Any], name: str) -> dict[str, Any]:
    (local,) = [n for n in status["nodes"] if n["node"] == "local"]
    (queue,) = [q for q in local["queues"] if q["name"] == name]
    return queue


async def test_apply_writes_reloads_and_verifies_every_node(api: Api) -> None:
    status, applied = await api.call("POST", "/api/v1/apply", body={})
    assert status == 200, applied
    assert [n["node"] for n in applied["nodes"]] == sorted(NODES)
    for outcome in applied["nodes"]:
        assert outcome["applied"] and outcome["error"] is None
        assert "pjsip.conf" in outcome["changes"] and "res_pjsip.so" in outcome["reloaded"]
        assert "modules.conf" in outcome["needs_restart"]
    local = api.asterisk("local")
    assert {"201", "202", "301", "tele2", "mts", "beeline"} <= local.endpoints
    assert "pbxctl-from-kazan" in local.contexts
    assert set(local.queues) == {"q-kazan-sales", "q-omsk-support"}
    assert "201" not in api.asterisk("east").endpoints
    assert "[201]" in (local.config_dir / "pjsip.conf").read_text()
    entries = [e for e in await api.audit() if e.action == "apply"]
    assert sorted((e.object_key, e.actor, e.interface) for e in entries) == [
        (node, "t-admin", "api") for node in sorted(NODES)]

    actions = len(local.actions)
    status, again = await api.call("POST", "/api/v1/apply", body={"node": "local"})
    assert status == 200
    assert again["nodes"] == [{"node": "local", "changes": [], "diff": "", "applied": False,
                               "reloaded": [], "needs_restart": [], "error": None,
                               "switches_changed": 0, "switches_error": None,
                               "members_changed": 0, "members_error": None}]
    # nothing to write: only the node's AstDB switches are read, and found right
    assert [name for name, _ in local.actions[actions:]] == ["DBGetTree", "DBGetTree"]


async def test_apply_puts_back_a_switch_a_standby_node_missed(api: Api) -> None:
    assert (await api.call("POST", "/api/v1/apply", body={}))[0] == 200
    local = api.asterisk("local")
    # What a node that was down kept: a crisis switched off since, and a record key
    # of a branch it does not serve; what it missed: nothing here is switched on.
    local.astdb |= {"pbxctl-crisis/kazan": "ext/201", "pbxctl-record/ext-999": "1"}
    status, again = await api.call("POST", "/api/v1/apply", body={"node": "local"})
    assert status == 200
    assert again["nodes"][0]["switches_changed"] == 2
    assert not [k for k in local.astdb if k.startswith(("pbxctl-crisis/", "pbxctl-record/"))]


async def test_apply_gives_a_standby_the_queue_members_of_its_branchs_node(
        api: Api) -> None:
    assert (await api.call("PATCH", "/api/v1/branches/kazan",
                           body={"standby_node": "east"}))[0] == 200
    assert (await api.call("POST", "/api/v1/apply", body={}))[0] == 200
    local, east = api.asterisk("local"), api.asterisk("east")
    anna, boris = (f"Local/{n}@pbxctl-queue-agent/n" for n in ("201", "202"))
    # 202 logged in with a phone's feature code (on kazan's node only) and paused;
    # 299 logged in on east only (while local was down): local, the truth, has not.
    local.queues["q-kazan-sales"][boris] = Member("202", dynamic=True, paused=True)
    east.queues["q-kazan-sales"]["Local/299@pbxctl-queue-agent/n"] = Member("299",
                                                                            dynamic=True)
    status, applied = await api.call("POST", "/api/v1/apply", body={"node": "east"})
    assert status == 200
    assert (applied["nodes"][0]["members_changed"], applied["nodes"][0]["members_error"]) \
        == (2, None)
    assert {i: (m.name, m.dynamic, m.paused)
            for i, m in east.queues["q-kazan-sales"].items()} == {
        anna: ("201", False, False), boris: ("202", True, True)}
    status, again = await api.call("POST", "/api/v1/apply", body={"node": "east"})
    assert again["nodes"][0]["members_changed"] == 0


async def test_a_dry_run_shows_the_masked_diff_and_touches_nothing(api: Api) -> None:
    before = await api.db_state()
    status, planned = await api.call("POST", "/api/v1/apply",
                                     body={"node": "local", "dry_run": True})
    assert status == 200
    (plan,) = planned["nodes"]
    assert not plan["applied"] and "extensions.conf" in plan["changes"]
    assert "+[201]" in plan["diff"] and "********" in plan["diff"]
    assert AMI_SECRET not in plan["diff"] and MTS_SECRET not in plan["diff"]
    local = api.asterisk("local")
    assert list(local.config_dir.iterdir()) == [] and local.actions == []
    assert await api.db_state() == before


async def test_offline_only_writes_the_files(api: Api) -> None:
    status, written = await api.call("POST", "/api/v1/apply",
                                     body={"node": "east", "offline": True})
    assert status == 200
    (outcome,) = written["nodes"]
    assert outcome["applied"] and outcome["reloaded"] == []
    east = api.asterisk("east")
    assert (east.config_dir / "extensions.conf").exists() and east.actions == []
    (entry,) = [e for e in await api.audit() if e.action == "apply"]
    assert entry.actor == "t-admin" and "written offline" in str(entry.detail)


async def test_a_refused_reload_is_rolled_back_audited_and_502(api: Api) -> None:
    await api.call("POST", "/api/v1/apply", body={"node": "local"})
    local = api.asterisk("local")
    good = (local.config_dir / "extensions.conf").read_text()
    local.refuse_reload.add("pbx_config.so")
    assert (await api.call("POST", "/api/v1/extensions", body={
        "branch": "kazan", "number": "203", "name": "Vera"}))[0] == 201
    status, failed = await api.call("POST", "/api/v1/apply", body={"node": "local"})
    assert status == 502 and failed["error"]["id"] == "apply_failed"
    assert "node local: Asterisk refused to reload pbx_config.so" in failed["error"]["message"]
    (outcome,) = failed["nodes"]
    assert not outcome["applied"] and "restored" in outcome["error"]
    assert (local.config_dir / "extensions.conf").read_text() == good
    last = (await api.audit())[-1]
    assert (last.action, last.actor, last.object_key) == ("apply.failed", "t-admin", "local")


async def test_a_refused_ami_login_writes_nothing(api: Api) -> None:
    api.servers["local"].secret = "changed-on-the-node"
    status, failed = await api.call("POST", "/api/v1/apply", body={"node": "local"})
    assert status == 502 and "AMI login refused" in failed["error"]["message"]
    assert list(api.asterisk("local").config_dir.glob("*.conf")) == []
    _, live = await api.call("GET", "/api/v1/status", "viewer", node="local")
    (node,) = live["nodes"]
    assert not node["connected"] and "AMI login refused" in node["error"]


async def test_status_is_what_the_cli_prints(api: Api) -> None:
    await api.call("POST", "/api/v1/apply", body={})
    status, live = await api.call("GET", "/api/v1/status", "viewer")
    assert status == 200
    assert live == json.loads(await api.cli("status", "--json"))
    assert [n["node"] for n in live["nodes"]] == sorted(NODES)
    assert all(n["connected"] for n in live["nodes"])
    (local,) = [n for n in live["nodes"] if n["node"] == "local"]
    assert [e["name"] for e in local["endpoints"] if e["kind"] == "phone"] == [
        "201", "202", "301"]
    assert _queue(live, "q-kazan-sales")["members_total"] == 1
    _, one = await api.call("GET", "/api/v1/status", node="east")
    assert one == json.loads(await api.cli("status", "--json", "--node", "east"))


async def test_a_member_logs_in_on_the_branchs_node_and_its_standby(api: Api) -> None:
    await api.cli("branch", "update", "kazan", "--standby-node", "spare")
    assert (await api.call("POST", "/api/v1/apply", body={}))[0] == 200
    status, done = await api.call("POST", "/api/v1/agents/202/login",
                                  body={"queue": "kazan/sales"})
    assert status == 200 and done["standby_missed"] == []
    for node in ("local", "spare"):
        assert api.asterisk(node).actions[-1] == ("QueueAdd", {
            "Queue": "q-kazan-sales", "Interface": "Local/202@pbxctl-queue-agent/n",
            "MemberName": "202", "StateInterface": "PJSIP/202"}), node
    assert "201" in api.asterisk("spare").endpoints     # kazan rendered on its standby
    assert not [a for a in api.asterisk("east").actions if a[0] == "QueueAdd"]


async def test_members_log_in_pause_and_log_out_over_ami(api: Api) -> None:
    await api.call("POST", "/api/v1/apply", body={})
    local = api.asterisk("local")
    status, done = await api.call("POST", "/api/v1/agents/202/login",
                                  body={"queue": "kazan/sales"})
    assert status == 200 and done == {"extension": "202", "action": "login",
                                      "queues": ["kazan/sales"], "standby_missed": []}
    assert local.actions[-1] == ("QueueAdd", {
        "Queue": "q-kazan-sales", "Interface": "Local/202@pbxctl-queue-agent/n",
        "MemberName": "202", "StateInterface": "PJSIP/202"})
    _, live = await api.call("GET", "/api/v1/status")
    assert _queue(live, "q-kazan-sales")["members_total"] == 2

    status, _ = await api.call("POST", "/api/v1/agents/202/pause",
                               body={"queue": "kazan/sales"})
    assert status == 200
    _, live = await api.call("GET", "/api/v1/status")
    assert _queue(live, "q-kazan-sales")["members_paused"] == 1
    status, done = await api.call("POST", "/api/v1/agents/201/pause")   # all of 201's queues
    assert status == 200 and done["queues"] == ["kazan/sales"]
    _, live = await api.call("GET", "/api/v1/status")
    assert _queue(live, "q-kazan-sales")["members_paused"] == 2
    for extension in ("201", "202"):
        status, _ = await api.call("POST", f"/api/v1/agents/{extension}/unpause",
                                   body={"queue": "kazan/sales"})
        assert status == 200
    status, _ = await api.call("POST", "/api/v1/agents/202/logout",
                               body={"queue": "kazan/sales"})
    assert status == 200
    _, live = await api.call("GET", "/api/v1/status")
    queue = _queue(live, "q-kazan-sales")
    assert (queue["members_total"], queue["members_paused"]) == (1, 0)

    status, refused = await api.call("POST", "/api/v1/agents/202/logout",
                                     body={"queue": "kazan/sales"})
    assert status == 502 and "Not there" in refused["error"]["message"]
    status, refused = await api.call("POST", "/api/v1/agents/202/login")
    assert status == 400 and "say which queue" in refused["error"]["message"]
    entries = [(e.action, e.object_key, e.detail) for e in await api.audit()
               if e.actor == "t-admin" and e.action.startswith("queue.")]
    assert entries == [("queue.login", "kazan/sales", "202"),
                       ("queue.pause", "kazan/sales", "202"),
                       ("queue.pause", "kazan/sales", "201"),
                       ("queue.unpause", "kazan/sales", "201"),
                       ("queue.unpause", "kazan/sales", "202"),
                       ("queue.logout", "kazan/sales", "202")]


async def test_a_queue_not_yet_applied_refuses_members(api: Api) -> None:
    await api.call("POST", "/api/v1/apply", body={})
    await api.call("POST", "/api/v1/queues", body={"branch": "kazan", "name": "support",
                                                    "members": ["201"]})
    status, refused = await api.call("POST", "/api/v1/agents/202/login",
                                     body={"queue": "kazan/support"})
    assert status == 502 and "No such queue" in refused["error"]["message"]
    assert not [e for e in await api.audit() if e.action == "queue.login"]


async def test_apply_answers_for_the_edges_too(api: Api, tmp_path: Path) -> None:
    edge_dir = tmp_path / "edge"
    edge_dir.mkdir()
    with socket.socket() as probe:   # an RPC port nobody listens on
        probe.bind(("127.0.0.1", 0))
        rpc = f"127.0.0.1:{probe.getsockname()[1]}"
    async with transaction(api.engine) as session:
        edges = EdgeService(session, AuditTrail(session, Actor("tester", "cli")), [tmp_path])
        await edges.add(EdgeSpec("e1", "127.0.0.10", rpc, str(edge_dir)))
        # behind an edge, mts (registering with a host name) needs its calls' address
        await session.execute(update(Carrier).where(Carrier.slug == "mts")
                              .values(match=["127.0.0.3/32"]))

    status, planned = await api.call("POST", "/api/v1/apply",
                                     body={"edge": "e1", "dry_run": True})
    assert status == 200 and planned["nodes"] == []
    (edge,) = planned["edges"]
    assert edge["edge"] == "e1" and "dispatcher.list" in edge["changes"]
    assert "+++ b/db/numbers" in edge["diff"] and not edge["applied"]
    assert list(edge_dir.iterdir()) == []

    status, failed = await api.call("POST", "/api/v1/apply", body={})
    assert status == 502, failed
    assert all(n["applied"] for n in failed["nodes"])
    assert failed["error"]["message"] == (f"edge e1: cannot reach edge e1's Kamailio RPC at "
                                          f"{rpc}: connection refused; nothing was written")
    assert failed["edges"][0]["error"] is not None
    assert [p.name for p in edge_dir.iterdir()] == [".pbxctl-apply.lock"]   # nothing written
