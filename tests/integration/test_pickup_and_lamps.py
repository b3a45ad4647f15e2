"""Busy lamps and pickup on a real Asterisk 22: a phone watches a colleague's state (a
SIPp SUBSCRIBE to the dialog event), sees it ring, and takes the call with *8 or **NNN;
a phone of another branch can neither watch nor take it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sandboxkit.sipp import BackgroundSipp, SippCarrier, SoftPhone

from tests.conftest import Pbxctl
from tests.integration.conftest import add_phone, add_sandbox_node

NUMBER = "+78435550177"



def _company(pbxctl: Pbxctl, asterisk: Path, carrier: SippCarrier, work: Path
             ) -> tuple[SoftPhone, SoftPhone, SoftPhone]:
    """Branch perm with 841 (reached at NUMBER) and 842; branch tver with 851."""
    add_sandbox_node(pbxctl, asterisk)
    pbxctl.ok("branch", "add", "perm", "--name", "Perm", "--city", "Perm",
              "--timezone", "Asia/Yekaterinburg", "--ext-range", "840-849")
    pbxctl.ok("branch", "add", "tver", "--name", "Tver", "--city", "Tver",
              "--timezone", "Europe/Moscow", "--ext-range", "850-859")
    ringing = add_phone(pbxctl, "perm", "841", "Olga")
    colleague = add_phone(pbxctl, "perm", "842", "Pavel")
    stranger = add_phone(pbxctl, "tver", "851", "Roman")
    pbxctl.ok("carrier", "add", carrier.name, "--host", carrier.address, "--auth", "ip",
              "--match", carrier.address, "--qualify", "0")
    pbxctl.ok("number", "add", NUMBER, "--carrier", carrier.name, "--branch", "perm",
              "--monthly-fee", "0.00", "--route", "ext:841")
    pbxctl.ok("apply")
    for phone in (ringing, colleague, stranger):
        assert phone.register(work).ok, f"{phone.username} could not register"
    return ringing, colleague, stranger


def _until_state(watch: BackgroundSipp, state: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while state not in watch.states():
        assert time.monotonic() < deadline, f"no NOTIFY said {state}: {watch.states()}"
        time.sleep(0.1)


# What is tested here is the rendered configuration, the same from either database.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_colleague_sees_the_phone_ring_and_picks_the_call_up(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    carrier = SippCarrier("pickupcarrier", "127.0.0.23")
    ringing, colleague, stranger = _company(pbxctl, asterisk, carrier, tmp_path)

    assert stranger.watch_refused(tmp_path, "841").ok, "another branch may not watch 841"
    # The busy lamp is the desk phone's own dialog, on a port of its own.
    lamp = SoftPhone(colleague.username, colleague.password).watch(tmp_path, "841")
    _until_state(lamp, "terminated")        # subscribed: 841 is idle

    # *8: whichever phone of the branch is ringing.
    rings = ringing.ring_until_cancelled(tmp_path)
    caller = carrier.start_call(tmp_path, NUMBER, hold_ms=1500)
    _until_state(lamp, "early")
    refused = stranger.call(tmp_path, "*8", hold_ms=500)
    assert not refused.ok, "a phone of another branch picked up perm's call"
    taken = colleague.start_held_call(tmp_path, "*8", seconds=30)
    assert rings.wait().ok, "841 was not cancelled when 842 took its call"
    assert caller.wait().ok, "the caller was not connected to 842"
    assert taken.wait().ok, "842 did not talk to the caller until the caller hung up"

    # **841: that phone, by number; 851 has no **841 of its own to dial.
    rings = ringing.ring_until_cancelled(tmp_path)
    caller = carrier.start_call(tmp_path, NUMBER, hold_ms=1500)
    time.sleep(1)
    assert not stranger.call(tmp_path, "**841", hold_ms=500).ok
    taken = colleague.start_held_call(tmp_path, "**841", seconds=30)
    assert rings.wait().ok and caller.wait().ok and taken.wait().ok

    watched = lamp.wait(timeout=60)
    assert watched.ok, watched.errors
    states = lamp.states()
    assert states.count("early") == 2, states          # it rang twice, and was seen to
    assert states[-1] in ("terminated", ""), states    # idle again at the end
