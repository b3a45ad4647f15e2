"""Two sandbox nodes at once, node-a (127.0.0.11) and node-b (127.0.0.12), each its own
Asterisk 22:
a branch on each, both applied by one ``pbxctl apply``; a call inside each branch is
answered on its own node, which writes the CDR to its own Master.csv; ``serve`` follows
both nodes and stores each CDR once, under the node that wrote it; ``kill -9`` of node-a
leaves node-b answering, and node-a answers again once restarted."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from pathlib import Path

from sandboxkit import sandbox
from sandboxkit.processes import metrics, start_serve, wait_for
from sandboxkit.sipp import SoftPhone
from sqlalchemy import text

from pbxctl.db.session import make_engine
from tests.conftest import Pbxctl
from tests.integration.conftest import NODES, add_phone

# serve notices a dead node within seconds.
FAST = {"PBXCTL_AMI_PING_INTERVAL": "1", "PBXCTL_AMI_PING_TIMEOUT": "2",
        "PBXCTL_AMI_BACKOFF_MAX": "1"}
# Each branch: its node, extension range, and two phones (extension, loopback address).
BRANCHES = {"node-a": ("200-299", [("201", "127.0.0.21"), ("202", "127.0.0.22")]),
            "node-b": ("300-399", [("301", "127.0.0.23"), ("302", "127.0.0.24")])}


def answered_in_database(database_url: str) -> Counter[tuple[str, str]]:
    """Answered CDRs stored by pbxctl: how many per (node, branch)."""
    async def read() -> Counter[tuple[str, str]]:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as connection:
                rows = (await connection.execute(text(
                    "SELECT node, department FROM cdrs WHERE disposition = 'ANSWERED'"))).all()
        finally:
            await engine.dispose()
        return Counter((row[0], row[1]) for row in rows)

    return asyncio.run(read())


def answered_in_file(node: str, branch: str, seen: int) -> list[dict[str, str]]:
    """Answered calls of ``branch`` in ``node``'s Master.csv after its first ``seen`` rows."""
    return [row for row in sandbox.cdr_rows(node)[seen:]
            if row["accountcode"] == branch and row["disposition"] == "ANSWERED"]


def call(phones: list[SoftPhone], work: Path) -> None:
    """The first of ``phones`` calls the second, who answers."""
    caller, callee = phones
    answering = callee.answer_one_call(work)
    placed = caller.call(work, callee.username, hold_ms=1000)
    assert placed.ok, placed.errors
    answered = answering.wait()
    assert answered.ok, answered.errors


def connected(base: str, node: str) -> float | None:
    """serve's view of its AMI link to ``node`` (1 up, 0 down)."""
    return metrics(base).get(("pbxctl_ami_connected", node))


def test_two_nodes_answer_their_own_branches_and_outlive_each_other(
        two_nodes: Pbxctl, tmp_path: Path) -> None:
    pbxctl = two_nodes
    # Fresh slugs: the nodes' Master.csv keep earlier runs' calls, which serve catches up.
    slugs = {node: f"br{uuid.uuid4().hex[:6]}" for node in NODES}
    phones: dict[str, list[SoftPhone]] = {}
    for node, (numbers, extensions) in BRANCHES.items():
        pbxctl.ok("branch", "add", slugs[node], "--name", f"Branch on {node}", "--city",
                  "Kazan", "--timezone", "Europe/Moscow", "--ext-range", numbers,
                  "--node", node)
        phones[node] = [add_phone(pbxctl, slugs[node], number, f"Phone {number}", address)
                        for number, address in extensions]
        assert {phone.server for phone in phones[node]} == {NODES[node]}
    applied = pbxctl.ok("apply")
    for node in NODES:   # each node has its own files: its address, its branch only
        assert f"node {node}: applied" in applied.stderr, applied.stderr
        pjsip = (sandbox.config_dir(node) / "pjsip.conf").read_text().replace(" ", "")
        dialplan = (sandbox.config_dir(node) / "extensions.conf").read_text()
        assert f"bind={NODES[node]}:5060" in pjsip
        assert [slug for slug in slugs.values() if slug in dialplan] == [slugs[node]]

    seen = {node: len(sandbox.cdr_rows(node)) for node in NODES}
    with (tmp_path / "serve.log").open("w") as log:
        serve, base = start_serve(pbxctl.database_url, FAST, log)
        try:
            wait_for("serve's AMI links", lambda: all(connected(base, n) == 1 for n in NODES))
            for node in NODES:
                for phone in phones[node]:
                    assert phone.register(tmp_path).ok, f"{phone.username} on {node}"
                call(phones[node], tmp_path)
            # Each call's CDR is in its own node's file (written at hangup), and only there.
            wait_for("each node's CDR in its Master.csv", lambda: all(
                len(answered_in_file(n, slugs[n], seen[n])) == 1 for n in NODES), seconds=10)
            for node in NODES:
                assert not [row for row in sandbox.cdr_rows(node)[seen[node]:]
                            if row["accountcode"] in set(slugs.values()) - {slugs[node]}]
            wait_for("both nodes' CDRs stored", lambda: answered_in_database(
                pbxctl.database_url) == Counter({(n, slugs[n]): 1 for n in NODES}))

            # node-a crashes: node-b goes on answering.
            assert sandbox.kill_hard("node-a") >= 1
            wait_for("serve to see node-a down", lambda: connected(base, "node-a") == 0)
            call(phones["node-b"], tmp_path)

            # node-a restarts on its last configuration and answers again.
            sandbox.start("node-a")
            wait_for("serve to reconnect to node-a", lambda: connected(base, "node-a") == 1)
            for phone in phones["node-a"]:
                assert phone.register(tmp_path).ok, f"{phone.username} on node-a again"
            call(phones["node-a"], tmp_path)
            wait_for("every CDR stored once, under its node", lambda: answered_in_database(
                pbxctl.database_url) == Counter({(n, slugs[n]): 2 for n in NODES}))
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=30)
    assert serve.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]
