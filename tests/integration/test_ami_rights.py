"""On the sandbox's Asterisk 22, pbxctl's AMI user may run the actions pbxctl sends, with
the privileges pbxctl/ami_rights.py says Asterisk registers them with, and nothing that
runs CLI commands, places calls or rewrites configuration (issue 11, finding 2)."""

from __future__ import annotations

from pathlib import Path

from sandboxkit import sandbox

from pbxctl.ami_rights import ACTIONS
from pbxctl.asterisk.ami import AmiEndpoint, PanoramiskAmiClient

DANGEROUS = ("Command", "Originate", "UpdateConfig", "CreateConfig", "Setvar", "Redirect")


async def test_the_ami_user_runs_exactly_what_pbxctl_needs(asterisk: Path) -> None:
    client = await PanoramiskAmiClient.connect(
        AmiEndpoint("127.0.0.1", 5038, sandbox.AMI_USER, sandbox.AMI_SECRET))
    try:
        listed = await client.action("ListCommands")
        command = await client.action("Command", {"Command": "core show version"})
    finally:
        await client.close()
    # ListCommands lists the actions this user may run: "Name: synopsis (Priv: a,b,all)".
    privileges = {name: set(text.rsplit("(Priv: ", 1)[1].rstrip(")").split(",")) - {"<none>", "all"}
                  for name, text in listed.fields.items() if "(Priv: " in text}
    assert {name: privileges.get(name) for name in ACTIONS} == {
        name: set(right.accepts) for name, right in ACTIONS.items()}
    assert [name for name in DANGEROUS if name in privileges] == []
    assert not command.success and "Permission denied" in command.message
