"""Names shared with Asterisk are defined once (pbxctl/names.py): the templates never spell
them, and renaming one changes the rendered files and the live code together."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl import names
from pbxctl.ami_events import CallStage, parse_event
from pbxctl.asterisk.ami import AmiResponse
from pbxctl.db.models import Branch, Extension, Node
from pbxctl.destinations import Destination
from pbxctl.render import TemplateSet, render_node
from pbxctl.render.templates import packaged_template_dirs
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.live_switches import LiveSwitches
from pbxctl.services.queues import member_interface, queue_section
from pbxctl.services.recordings import list_recordings
from pbxctl.webhooks.events import CallEvents
from tests.render.test_golden import company_node

RENAMED = dataclasses.replace(
    names.ASTERISK, crisis_family="acme-crisis", record_family="acme-record",
    queue_prefix="queue-", queue_agent="acme-agent", user_event="AcmeCall",
    dial_phone="acme-dial-phone", from_branch_prefix="acme-from-",
    recording_prefix="acme-rec-", udp_transport="acme-udp", voicemail_context="acme-vm")
# Values too plain to look for as text; their use is checked by RENAMED instead.
PLAIN = {"voicemail_context", "queue_prefix"}


def templates() -> Iterator[Path]:
    for folder in packaged_template_dirs():
        yield from sorted(folder.glob("*.j2"))


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(names.AsteriskNames)
                                   if f.name not in PLAIN])
def test_no_template_spells_a_name_itself(field: str) -> None:
    value = getattr(names.ASTERISK, field)
    for template in templates():
        assert value not in template.read_text(), f"{template.name} spells {field}={value!r}"


@pytest.fixture
def renamed(monkeypatch: pytest.MonkeyPatch) -> names.AsteriskNames:
    monkeypatch.setattr(names, "ASTERISK", RENAMED)
    return RENAMED


def test_renaming_changes_every_rendered_file(renamed: names.AsteriskNames) -> None:
    files = render_node(company_node(), TemplateSet()).files
    dialplan, queues = files["extensions.conf"], files["queues.conf"]
    every = "\n".join(files.values())
    for old in ("pbxctl-crisis/", "pbxctl-record/", "pbxctl-queue-agent", "PbxctlCall",
                "pbxctl-dial-phone", "pbxctl-from-kazan", "[q-kazan-sales]", "pbxctl-udp",
                "@pbxctl,"):
        assert old not in every, old
    assert "${DB(acme-crisis/${EXTEN})}" in dialplan
    assert "acme-record/ext-${ARG1}" in dialplan and "acme-record/crisis-${EXTEN}" in dialplan
    assert "UserEvent(AcmeCall,Stage: ringing" in dialplan
    assert "[acme-from-kazan]" in dialplan and "Gosub(acme-dial-phone,s,1(" in dialplan
    assert "Set(__PBXCTL_RECORDING=acme-rec-${STRFTIME" in dialplan
    assert "@acme-vm,u)" in dialplan and "[acme-vm]" in files["voicemail.conf"]
    assert "AddQueueMember(queue-kazan-sales,Local/${CHANNEL(endpoint)}@acme-agent/n" in dialplan
    assert "[queue-kazan-sales]" in queues and "member => Local/201@acme-agent/n," in queues
    assert "[acme-udp]" in files["pjsip.conf"]


def test_renaming_changes_the_live_code(renamed: names.AsteriskNames, tmp_path: Path) -> None:
    assert queue_section("kazan", "sales") == "queue-kazan-sales"
    assert member_interface("201") == "Local/201@acme-agent/n"
    ringing = {"Event": "UserEvent", "Linkedid": "1700000000.1", "Stage": "ringing",
               "Number": "+78435550101", "Branch": "kazan"}
    assert parse_event({**ringing, "UserEvent": "PbxctlCall"}) is None
    acme = parse_event({**ringing, "UserEvent": "AcmeCall"})
    assert isinstance(acme, CallStage)
    assert [e.name for e in CallEvents("local").feed(acme)] == ["call.ringing"]
    (tmp_path / "acme-rec-20261130-101500-+78435550101-1700000000.1.wav").write_bytes(b"x")
    (tmp_path / "pbxctl-20261130-101500-+78435550101-1700000000.2.wav").write_bytes(b"x")
    assert [r.uniqueid for r in list_recordings(tmp_path)] == ["1700000000.1"]


class RecordingAmi:
    """An AMI client that says yes to everything and remembers what it was asked."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, dict[str, str]]] = []

    async def action(self, name: str, fields: Mapping[str, str] | None = None
                     ) -> AmiResponse:
        self.actions.append((name, dict(fields or {})))
        return AmiResponse(True, "ok", {})

    async def close(self) -> None:
        pass


async def test_renaming_changes_the_astdb_keys_switched(renamed: names.AsteriskNames,
                                                        session: AsyncSession) -> None:
    node = Node(name="local", ami_host="127.0.0.1", ami_port=5038, ami_user="pbxctl",
                ami_secret="s3cret-s3cret", config_dir="/tmp/none", sip_address="127.0.0.1",
                sip_port=5060, media_address="127.0.0.1")
    branch = Branch(slug="kazan", name="Kazan", city="Kazan", timezone="Europe/Moscow",
                    ext_start=200, ext_end=299, node=node)
    session.add_all([node, branch, Extension(number="201", display_name="Anna",
                                             branch=branch, sip_ha1="a" * 32)])
    await session.flush()
    ami = RecordingAmi()

    async def connect(_node: Node) -> RecordingAmi:
        return ami

    switches = LiveSwitches(session, AuditTrail(session, Actor("tester", "cli")), connect)
    await switches.crisis_on("kazan", Destination("ext", "201"), record=True)
    await switches.record_on("ext", "201")
    puts = [(f["Family"], f["Key"], f["Val"]) for name, f in ami.actions if name == "DBPut"]
    assert puts == [("acme-crisis", "kazan", "ext/201"), ("acme-record", "crisis-kazan", "1"),
                    ("acme-record", "ext-201", "1")]
