"""Voicemail people use, on a real Asterisk 22: a caller leaves a message, the phone's
message lamp lights (an unsolicited message-summary NOTIFY), and *97 opens the phone's
own mailbox: without a PIN when it has none, asking for it when it has one."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from sandboxkit import sandbox
from sandboxkit.sipp import SippCarrier

from tests.conftest import Pbxctl
from tests.integration.conftest import add_phone, add_sandbox_node

NUMBER = "+74872550186"


def _cdr_of(seen: int, src: str, dst: str, timeout: float = 10) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in sandbox.cdr_rows()[seen:]:
            if row["src"] == src and row["dst"] == dst:
                return row
        time.sleep(0.2)
    raise AssertionError(f"no CDR of {src} calling {dst}")


# What is tested here is the rendered configuration, the same from either database.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_message_lights_the_lamp_and_star_97_opens_ones_own_mailbox(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    carrier = SippCarrier("vmcarrier", "127.0.0.24")
    add_sandbox_node(pbxctl, asterisk)
    pbxctl.ok("branch", "add", "tula", "--name", "Tula", "--city", "Tula",
              "--timezone", "Europe/Moscow", "--ext-range", "860-869")
    owner = add_phone(pbxctl, "tula", "861", "Vera")
    guarded = add_phone(pbxctl, "tula", "862", "Gleb")
    pin = json.loads(pbxctl.ok("ext", "voicemail", "862", "--json").stdout)["pin"]
    pbxctl.ok("carrier", "add", carrier.name, "--host", carrier.address, "--auth", "ip",
              "--match", carrier.address, "--qualify", "0")
    pbxctl.ok("number", "add", NUMBER, "--carrier", carrier.name, "--branch", "tula",
              "--monthly-fee", "0.00", "--route", "voicemail:861")
    planned = pbxctl.ok("apply", "--dry-run").stdout
    assert "+862 => ********,Gleb" in planned and pin not in planned
    pbxctl.ok("apply")
    for mailbox in ("861", "862"):      # earlier runs' messages
        shutil.rmtree(sandbox.voicemail_dir() / "pbxctl" / mailbox, ignore_errors=True)

    assert owner.register(tmp_path).ok and guarded.register(tmp_path).ok
    lamp = owner.listen_for_lamp(tmp_path)
    left = carrier.leave_message(tmp_path, NUMBER)
    assert left.ok, left.errors
    deadline = time.monotonic() + 20
    while True not in lamp.lamps():                   # the lamp lights
        assert time.monotonic() < deadline, f"no lit lamp: {lamp.lamps()}"
        time.sleep(0.2)
    lamp.stop()
    inbox = sandbox.voicemail_dir() / "pbxctl" / "861" / "INBOX"
    assert sorted(p.name for p in inbox.iterdir()) == ["msg0000.txt", "msg0000.wav"]
    assert "callerid=+46701234567" in (inbox / "msg0000.txt").read_text()

    seen = len(sandbox.cdr_rows())
    assert owner.call(tmp_path, "*97", hold_ms=1500).ok
    assert guarded.call(tmp_path, "*97", hold_ms=1500).ok
    own = _cdr_of(seen, "861", "*97")
    assert (own["lastapp"], own["lastdata"]) == ("VoiceMailMain", "861@pbxctl,s")
    asked = _cdr_of(seen, "862", "*97")
    assert (asked["lastapp"], asked["lastdata"]) == ("VoiceMailMain", "862@pbxctl,")
