"""A caller who does not reach a person leaves a message, on a real Asterisk 22: a customer
calls a company number routed to an extension that is busy (the phone answers 486), that
rings unanswered for the node's ring time, or that has no device online, and in each case
lands in that extension's mailbox, after the busy or the unavailable greeting. The mailbox
answers the call, yet the person missed it: the CRM gets ``call.missed``, never
``call.answered``."""

from __future__ import annotations

import re
import shutil
import signal
import time
from pathlib import Path

import pytest
from sandboxkit import sandbox
from sandboxkit.processes import start_serve, wait_for
from sandboxkit.sipp import SippCarrier

from tests.conftest import Pbxctl
from tests.integration.conftest import Receiver, add_phone, add_sandbox_node, delivered

BUSY, RINGING, OFFLINE = "891", "892", "893"
NUMBERS = {BUSY: "+74872550191", RINGING: "+74872550192", OFFLINE: "+74872550193"}
SERVE_ENV = {"PBXCTL_WEBHOOK_FIRST_RETRY": "0.3",
             "PBXCTL_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]'}   # the receiver's network


def _voicemail_cdr(seen: int, mailbox: str, timeout: float = 10) -> dict[str, str]:
    """The CDR of the call that ended in ``mailbox``'s VoiceMail, after row ``seen``: its
    data tells the greeting (``b``: busy, ``u``: unavailable)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in sandbox.cdr_rows()[seen:]:
            if row["lastapp"] == "VoiceMail" and row["lastdata"].startswith(f"{mailbox}@"):
                return row
        time.sleep(0.2)
    raise AssertionError(f"no CDR of a call that ended in mailbox {mailbox}")


def _inbox(mailbox: str) -> list[str]:
    inbox = sandbox.voicemail_dir() / "pbxctl" / mailbox / "INBOX"
    return sorted(p.name for p in inbox.iterdir()) if inbox.exists() else []


# What is tested here is the rendered dialplan, the same from either database.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_busy_unanswered_and_offline_extensions_send_the_caller_to_voicemail(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path, receiver: str) -> None:
    carrier = SippCarrier("vmmissed", "127.0.0.27")
    add_sandbox_node(pbxctl, asterisk)
    pbxctl.ok("branch", "add", "tver", "--name", "Tver", "--city", "Tver",
              "--timezone", "Europe/Moscow", "--ext-range", "890-899")
    busy = add_phone(pbxctl, "tver", BUSY, "Lena")
    ringing = add_phone(pbxctl, "tver", RINGING, "Oleg")
    add_phone(pbxctl, "tver", OFFLINE, "Pavel")            # no device ever registers
    pbxctl.ok("carrier", "add", carrier.name, "--host", carrier.address, "--auth", "ip",
              "--match", carrier.address, "--qualify", "0")
    for extension, number in NUMBERS.items():
        pbxctl.ok("number", "add", number, "--carrier", carrier.name, "--branch", "tver",
                  "--monthly-fee", "0.00", "--route", f"ext:{extension}")
    pbxctl.env["PBXCTL_WEBHOOK_ALLOW_NETWORKS"] = SERVE_ENV["PBXCTL_WEBHOOK_ALLOW_NETWORKS"]
    pbxctl.ok("webhook", "add", receiver, "--events", "call.ringing,call.answered,call.missed",
              "--branch", "tver")
    Receiver.down_for = 0
    pbxctl.ok("apply")
    for mailbox in NUMBERS:                                 # earlier runs' messages
        shutil.rmtree(sandbox.voicemail_dir() / "pbxctl" / mailbox, ignore_errors=True)
    assert busy.register(tmp_path).ok and ringing.register(tmp_path).ok
    seen = len(sandbox.cdr_rows())
    full_log = sandbox.log_dir() / "full"             # Asterisk's verbose log
    logged = full_log.stat().st_size

    log = (tmp_path / "serve.log").open("w")
    serve, _ = start_serve(pbxctl.database_url, SERVE_ENV, log)
    try:
        refusing = busy.refuse_busy(tmp_path)
        left = carrier.leave_message(tmp_path, NUMBERS[BUSY])
        assert left.ok, left.errors
        assert refusing.wait().ok                          # the phone was offered the call

        left = carrier.leave_message(tmp_path, NUMBERS[OFFLINE])
        assert left.ok, left.errors

        unanswered = ringing.ring_until_cancelled(tmp_path)
        left = carrier.leave_message(tmp_path, NUMBERS[RINGING])
        assert left.ok, left.errors
        assert unanswered.wait().ok                        # rang, then Dial gave up

        wait_for("the call events", lambda: len(delivered()) >= 6, seconds=30)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        log.close()
    assert serve.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]

    for mailbox in NUMBERS:
        assert _inbox(mailbox) == ["msg0000.txt", "msg0000.wav"], mailbox
        message = (sandbox.voicemail_dir() / "pbxctl" / mailbox / "INBOX" / "msg0000.txt")
        assert "callerid=+46701234567" in message.read_text()
    # The busy phone's caller heard the busy greeting, the others the unavailable one (the
    # calls came one after the other: busy, offline, unanswered).
    played = full_log.read_bytes()[logged:].decode(errors="replace")
    assert re.findall(r"Playing '(vm-isonphone|vm-isunavail)\.", played) == [
        "vm-isonphone", "vm-isunavail", "vm-isunavail"]
    # The mailbox answered each call, so its CDR is answered, in the called number's branch.
    greetings = {mailbox: _voicemail_cdr(seen, mailbox) for mailbox in NUMBERS}
    assert {mailbox: (row["lastdata"], row["disposition"], row["accountcode"])
            for mailbox, row in greetings.items()} == {
        BUSY: (f"{BUSY}@pbxctl,b", "ANSWERED", "tver"),
        RINGING: (f"{RINGING}@pbxctl,u", "ANSWERED", "tver"),
        OFFLINE: (f"{OFFLINE}@pbxctl,u", "ANSWERED", "tver")}

    # Before that, the phone was rung: Dial's own CDR says how that ended.
    rings = {row["dstchannel"].split("-")[0]: row["disposition"]
             for row in sandbox.cdr_rows()[seen:] if row["lastapp"] == "Dial"}
    assert rings == {f"PJSIP/{BUSY}": "BUSY", f"PJSIP/{RINGING}": "NO ANSWER"}

    # No phone answered: each call rang and was missed, none was answered.
    events = sorted((e["event"], e["call"]["called"]) for e in delivered())
    assert events == sorted([("call.ringing", n) for n in NUMBERS.values()]
                            + [("call.missed", n) for n in NUMBERS.values()])
    missed = [e["call"] for e in delivered() if e["event"] == "call.missed"]
    assert all(call["answered_at"] is None and call["extension"] is None for call in missed)
