"""The restore drill of issue 14, live in the sandbox: a company on PostgreSQL makes
calls, switches crisis on for a branch and logs an agent into a queue, and is backed up;
the database is dropped and Asterisk's AstDB wiped (Asterisk restarted without it); the
backup goes back into SQLite and onto the node. Then the node needs no apply, the phone
registers with its old password, the API token works, the reports are the same bytes,
the crisis switch, the agent, a recording and a voicemail message are back, and the
audit trail holds everything it held plus the restore's own rows."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sandboxkit import sandbox
from sandboxkit.processes import start_follow
from sandboxkit.sipp import SippCarrier

from pbxctl import names
from pbxctl.api.app import create_app
from pbxctl.asterisk.ami import AmiEndpoint, PanoramiskAmiClient
from pbxctl.backup.media import voicemail_dir
from pbxctl.db.session import make_engine
from tests.conftest import Pbxctl, pg_database
from tests.integration.conftest import calling_out

CARRIER = SippCarrier("tele2", "127.0.0.2")
QUEUE_DID = "+78435550212"


async def _node_state(branch: str, queue: str) -> tuple[str | None, list[str]]:
    """The crisis switch of ``branch`` and the members of ``queue``, read over AMI."""
    ami = await PanoramiskAmiClient.connect(AmiEndpoint("127.0.0.1", 5038, sandbox.AMI_USER,
                                                        sandbox.AMI_SECRET))
    try:
        crisis = await ami.action("DBGet", {"Family": names.ASTERISK.crisis_family,
                                            "Key": branch})
        status = await ami.action("QueueStatus", {"Queue": queue})
    finally:
        await ami.close()
    value = next((e.get("Val") for e in crisis.events if "Val" in e), None)
    members = sorted(e.get("Name", "") for e in status.events
                     if e.get("Event") == "QueueMember")
    return (value if crisis.success else None), members


async def _api_answers(url: str, token: str) -> tuple[int, int]:
    """What the API answers to the token, and to a token it never issued."""
    engine = make_engine(url)
    client = TestClient(TestServer(create_app(engine)))
    await client.start_server()
    try:
        statuses = []
        for bearer in (token, "pbx_" + "0" * 40):
            response = await client.get("/api/v1/audit",
                                        headers={"Authorization": f"Bearer {bearer}"})
            statuses.append(response.status)
        return statuses[0], statuses[1]
    finally:
        await client.close()
        await engine.dispose()


def _media(branch: str) -> dict[Path, bytes]:
    """A recording and a voicemail message of this run on the node, as Asterisk keeps
    them (0600)."""
    recordings = sandbox.recordings_dir()
    inbox = voicemail_dir(recordings) / "201" / "INBOX"
    inbox.mkdir(parents=True, exist_ok=True)
    media = {recordings / f"pbxctl-drill-{branch}.wav": b"RIFF a recording",
             inbox / f"msg-{branch}.txt": b"[message]\ncallerid=+46701234567\n"}
    for path, content in media.items():
        path.write_bytes(content)
        path.chmod(0o600)
    return media


def _reports(pbxctl: Pbxctl) -> dict[str, str]:
    """Both reports, for this month and the last (Kazan's month may be ahead of UTC's),
    exactly as printed."""
    now = datetime.now(UTC)
    months = {f"{now:%Y-%m}", f"{now + timedelta(hours=14):%Y-%m}"}
    return {f"{kind} {month} {fmt}": pbxctl.ok("report", kind, "--month", month,
                                               "--format", fmt).stdout
            for kind in ("costs", "sla") for month in sorted(months)
            for fmt in ("csv", "json")}


def test_restore_drill(asterisk: Path, tmp_path: Path) -> None:
    archive = tmp_path / "drill.tar"
    with pg_database() as pg_url:
        source = Pbxctl(pg_url, {})
        source.allow_config_root(tmp_path)
        source.ok("init")
        branch, anna = calling_out(source, asterisk, tmp_path, CARRIER, "201",
                                   "+78435550211")
        source.ok("ext", "add", branch, "202", "--name", "Boris")
        source.ok("queue", "add", branch, "sales", "--members", "201")
        source.ok("number", "add", QUEUE_DID, "--carrier", CARRIER.name, "--branch", branch,
                  "--monthly-fee", "0.00", "--route", f"queue:{branch}/sales")
        source.ok("apply")
        queue = names.ASTERISK.queue_section(branch, "sales")

        follower = start_follow(pg_url)
        try:
            answering = CARRIER.answer_one_call(tmp_path)
            assert anna.call(tmp_path, "88432000001", hold_ms=1500).ok
            assert answering.wait().ok
            assert anna.register(tmp_path).ok
            answering = anna.answer_one_call(tmp_path, after_ms=1000)
            assert CARRIER.call(tmp_path, "8435550212").ok          # into the queue
            assert answering.wait().ok
            time.sleep(2)
        finally:
            follower.send_signal(signal.SIGTERM)
            follower.communicate(timeout=20)
        before = _reports(source)
        assert any(f",{branch}," in text for key, text in before.items()
                   if key.startswith("costs") and key.endswith("csv")), before
        assert any(queue in text or f"{branch}/sales" in text
                   for key, text in before.items() if key.startswith("sla")), before

        source.ok("crisis", "on", "--branch", branch, "--to", "ext:201")
        source.ok("queue", "login", "202", "--queue", f"{branch}/sales")
        token = source.ok("token", "create", "drill", "--role", "admin").stdout.strip()
        assert asyncio.run(_node_state(branch, queue)) == ("ext/201", ["201", "202"])
        audit_before = json.loads(source.ok("audit", "--json").stdout)

        media = _media(branch)
        written = json.loads(source.ok("backup", "-o", str(archive), "--with-media",
                                       "--json").stdout)
        assert written["node_state"]["local"] >= 2 and written["nodes_missing"] == {}
        assert written["media"]["local"] >= len(media)
        env = dict(source.env)
    # The database is gone (dropped); now the node's AstDB.
    sandbox.stop()
    sandbox.forget_registrations()
    sandbox.start()
    for path in media:
        path.unlink()
    assert asyncio.run(_node_state(branch, queue)) == (None, ["201"])

    target = Pbxctl(f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}", env)
    restored = json.loads(target.ok("restore", str(archive), "--to-node", "local",
                                    "--with-media", "--json").stdout)
    assert restored["engine"] == "postgresql"
    assert restored["nodes_restored"]["local"]["queue_members"] == 1
    assert restored["nodes_restored"]["local"]["media_written"] == len(media)
    for path, content in media.items():
        assert path.read_bytes() == content
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    assert "no change" in target.ok("apply", "--dry-run").stderr
    assert anna.register(tmp_path).ok                      # her old password
    assert asyncio.run(_api_answers(target.database_url, token)) == (200, 401)
    assert _reports(target) == before
    assert asyncio.run(_node_state(branch, queue)) == ("ext/201", ["201", "202"])
    audit_after = json.loads(target.ok("audit", "--json").stdout)
    assert audit_after[:len(audit_before)] == audit_before
    assert [(e["action"], e["actor"]) for e in audit_after[len(audit_before):]] == [
        ("backup.restore", "tester"), ("backup.restore-node", "tester")]
