"""Carriers on a real Asterisk: inbound by number (not by trunk), moving a number between
carriers, outbound failover with the branch's caller ID, restrictions, emergency calls,
injection attempts, unknown senders and business hours. SIPp plays phones and carriers,
each carrier on its own loopback address."""

from __future__ import annotations

import json
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sandboxkit import sandbox
from sandboxkit.sipp import SippCarrier, SoftPhone

from tests.conftest import Pbxctl
from tests.integration.conftest import add_phone, add_sandbox_node

DID = "+78435550101"
TELE2 = SippCarrier("tele2", "127.0.0.2")
MTS = SippCarrier("mts", "127.0.0.3")
STRANGER = SippCarrier("stranger", "127.0.0.9")



@pytest.fixture
def company_on_trunks(pbxctl: Pbxctl, asterisk: Path, tmp_path: Path
                      ) -> tuple[Pbxctl, SoftPhone, SoftPhone]:
    """Kazan (201) and Omsk (301) with two IP carriers; the DID arrives through tele2."""
    add_sandbox_node(pbxctl, asterisk)
    pbxctl.ok("branch", "add", "kazan", "--name", "Kazan salon", "--city", "Kazan",
              "--timezone", "Europe/Moscow", "--ext-range", "200-299")
    pbxctl.ok("branch", "add", "omsk", "--name", "Omsk office", "--city", "Omsk",
              "--timezone", "Asia/Omsk", "--ext-range", "300-399")
    anna = add_phone(pbxctl, "kazan", "201", "Anna Petrova")
    ivan = add_phone(pbxctl, "omsk", "301", "Ivan Sidorov")
    # qualify off: the SIPp carriers only listen while a test needs them.
    pbxctl.ok("carrier", "add", "tele2", "--host", TELE2.address, "--auth", "ip",
              "--match", TELE2.address, "--number-format", "national:7", "--qualify", "0")
    pbxctl.ok("carrier", "add", "mts", "--host", MTS.address, "--auth", "ip",
              "--match", MTS.address, "--number-format", "plus", "--qualify", "0")
    pbxctl.ok("number", "add", DID, "--carrier", "tele2", "--branch", "kazan",
              "--monthly-fee", "350.00", "--route", "ext:201")
    pbxctl.ok("branch", "outbound", "kazan", "--dialing", "national:7", "--carriers",
              "tele2,mts", "--caller-id", DID, "--allow", "local,national,mobile")
    logged_from = sandbox.log_position()
    pbxctl.ok("apply")
    assert sandbox.problems_since(logged_from) == [], "Asterisk complained about the config"
    for phone in (anna, ivan):
        assert phone.register(tmp_path).ok
    return pbxctl, anna, ivan


def test_inbound_follows_the_number_across_carriers(
        company_on_trunks: tuple[Pbxctl, SoftPhone, SoftPhone], tmp_path: Path) -> None:
    pbxctl, anna, _ivan = company_on_trunks
    answering = anna.answer_one_call(tmp_path)
    assert TELE2.call(tmp_path, "8435550101").ok, "tele2's call (national form) failed"
    assert answering.wait().ok, "201 did not get tele2's call"

    pbxctl.ok("number", "move", DID, "--carrier", "mts")
    assert json.loads(pbxctl.ok("number", "list", "--json").stdout)[0]["route"] == "ext:201"
    pbxctl.ok("apply")

    answering = anna.answer_one_call(tmp_path)
    assert MTS.call(tmp_path, DID).ok, "mts's call failed after the move"
    assert answering.wait().ok, "201 did not get mts's call"
    refused = TELE2.call_refused(tmp_path, "8435550101")
    assert refused.ok, "tele2 may still bring a number it no longer serves"


def test_outbound_fails_over_with_the_branch_caller_id(
        company_on_trunks: tuple[Pbxctl, SoftPhone, SoftPhone], tmp_path: Path) -> None:
    pbxctl, anna, _ivan = company_on_trunks
    pbxctl.ok("carrier", "update", "mts", "--send-names")
    pbxctl.ok("apply")
    rejecting = TELE2.reject_calls(tmp_path, code=503)
    answering = MTS.answer_one_call(tmp_path)
    before = len(sandbox.cdr_rows())
    call = anna.call(tmp_path, "88432000000", hold_ms=1000)
    assert call.ok, call.errors
    assert rejecting.wait().ok and answering.wait().ok

    (tried,) = rejecting.invites()
    # Issue 11: the staff name reaches only a carrier told to see it (mts, --send-names).
    assert tried == {"ruri_user": "8432000000", "from_user": "8435550101", "pai_user": "",
                     "from_name": ""}
    (carried,) = answering.invites()
    assert carried["ruri_user"] == "+78432000000" and carried["from_user"] == DID
    assert carried["from_name"] == "Anna Petrova"

    rows = [r for r in sandbox.cdr_rows()[before:] if r["src"] == "201"]
    answered = [r for r in rows if r["disposition"] == "ANSWERED"]
    assert len(answered) == 1 and answered[0]["dstchannel"].startswith("PJSIP/mts-")
    assert answered[0]["accountcode"] == "kazan"
    assert any(r["dstchannel"].startswith("PJSIP/tele2-") and r["disposition"] != "ANSWERED"
               for r in rows)


def test_restricted_classes_never_reach_a_carrier_but_emergency_does(
        company_on_trunks: tuple[Pbxctl, SoftPhone, SoftPhone], tmp_path: Path) -> None:
    _pbxctl, anna, _ivan = company_on_trunks
    tele2, mts = TELE2.listen(tmp_path, 6), MTS.listen(tmp_path, 6)
    for dialed in ("81046701234567", "+46701234567", "88095550000"):
        assert not anna.call(tmp_path, dialed).ok, f"{dialed} was allowed"
    tele2.wait(), mts.wait()
    assert tele2.invites() == [] and mts.invites() == []

    answering = TELE2.answer_one_call(tmp_path)
    assert anna.call(tmp_path, "112").ok, "the emergency call did not go out"
    assert answering.wait().ok
    assert answering.invites()[0]["ruri_user"] == "112"


def test_short_premium_numbers_star_hash_and_premium_forwards_never_reach_a_carrier(
        company_on_trunks: tuple[Pbxctl, SoftPhone, SoftPhone], tmp_path: Path) -> None:
    """Issue 11 (9): +78091 is under the premium prefix 7809 though too short for
    ``_+7809X.`` (it went out as a national call); ``*`` and ``#`` went to the carrier
    inside the number; a forward to a premium number skipped the class check. A number too
    short for E.164 (``8`` is ``+7``) never reaches a carrier either."""
    pbxctl, anna, _ivan = company_on_trunks
    tele2, mts = TELE2.listen(tmp_path, 20), MTS.listen(tmp_path, 20)
    for dialed in ("878091", "+78091", "88432*00000", "+7843200000%23", "8", "8843"):
        assert not anna.call(tmp_path, dialed).ok, f"{dialed} was allowed"
    tele2.wait(), mts.wait()
    assert tele2.invites() == [] and mts.invites() == []

    # The services refuse such a forward; the plan changing under one is caught by Asterisk.
    pbxctl.ok("number", "route", DID, "external:+74955550099")
    pbxctl.ok("numplan", "set", "7495", "premium")
    pbxctl.ok("apply")
    tele2, mts = TELE2.listen(tmp_path, 10), MTS.listen(tmp_path, 10)
    assert TELE2.call_refused(tmp_path, "8435550101").ok, "the premium forward was placed"
    tele2.wait(), mts.wait()
    assert tele2.invites() == [] and mts.invites() == []


def test_injection_and_strangers_are_refused(
        company_on_trunks: tuple[Pbxctl, SoftPhone, SoftPhone], tmp_path: Path) -> None:
    _pbxctl, anna, _ivan = company_on_trunks
    tele2, mts = TELE2.listen(tmp_path, 6), MTS.listen(tmp_path, 6)
    before = len(sandbox.cdr_rows())
    assert not anna.call(tmp_path, "100&PJSIP/tele2/0044123456789").ok
    assert not anna.call(tmp_path, "88432000000&PJSIP/mts/+4412345678").ok
    tele2.wait(), mts.wait()
    assert tele2.invites() == [] and mts.invites() == [], "an injected channel was dialed"
    assert not [r for r in sandbox.cdr_rows()[before:] if "PJSIP/tele2" in r["dstchannel"]
                or "PJSIP/mts" in r["dstchannel"]]
    assert STRANGER.call_refused(tmp_path, DID).ok, "an unknown address reached the dialplan"
    assert STRANGER.call_refused(tmp_path, "8435550101", caller="tele2").ok


def _epoch(text: str) -> str:
    return str(int(datetime.fromisoformat(text).astimezone(UTC).timestamp()))


def test_after_hours_route_applies_outside_business_hours(
        company_on_trunks: tuple[Pbxctl, SoftPhone, SoftPhone], tmp_path: Path) -> None:
    pbxctl, anna, ivan = company_on_trunks
    pbxctl.ok("branch", "hours", "kazan", "mon-fri 09:00-18:00")
    pbxctl.ok("branch", "holidays", "kazan", "--add", "2026-12-31")
    pbxctl.ok("number", "route", DID, "ext:201", "--after-hours", "ext:301")
    logged_from = sandbox.log_position()
    pbxctl.ok("apply")
    assert sandbox.problems_since(logged_from) == []
    moments = {
        "2026-11-23T10:00:00+03:00": anna,   # Monday morning in Kazan: open
        "2026-11-22T10:00:00+03:00": ivan,   # Sunday: after hours
        "2026-11-23T18:30:00+03:00": ivan,   # Monday evening: after hours
        "2026-12-31T10:00:00+03:00": ivan,   # a Thursday, but a holiday
    }
    try:
        for moment, expected in moments.items():
            sandbox.set_global_variable("PBXCTL_CLOCK", _epoch(moment))
            answering = expected.answer_one_call(tmp_path)
            assert TELE2.call(tmp_path, "8435550101").ok, moment
            assert answering.wait().ok, f"{expected.username} did not ring at {moment}"
    finally:
        sandbox.set_global_variable("PBXCTL_CLOCK", "")


def _config_snapshot(config_dir: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in config_dir.glob("*.conf")}


def test_crisis_switch_reroutes_at_once_and_survives_a_restart(
        company_on_trunks: tuple[Pbxctl, SoftPhone, SoftPhone], asterisk: Path,
        tmp_path: Path) -> None:
    pbxctl, anna, ivan = company_on_trunks
    files = _config_snapshot(asterisk)
    pbxctl.ok("crisis", "on", "--branch", "kazan", "--to", "ext:301")
    status = json.loads(pbxctl.ok("crisis", "status", "--json").stdout)
    assert [(s["branch"], s["destination"]) for s in status] == [("kazan", "ext:301")]
    try:
        answering = ivan.answer_one_call(tmp_path)
        assert TELE2.call(tmp_path, "8435550101").ok
        assert answering.wait().ok, "the crisis destination did not ring"

        sandbox.stop()
        sandbox.start()
        for phone in (anna, ivan):
            assert phone.register(tmp_path).ok
        answering = ivan.answer_one_call(tmp_path)
        assert TELE2.call(tmp_path, "8435550101").ok
        assert answering.wait().ok, "the crisis switch did not survive the restart"
    finally:
        pbxctl.ok("crisis", "off", "--branch", "kazan")
    answering = anna.answer_one_call(tmp_path)
    assert TELE2.call(tmp_path, "8435550101").ok
    assert answering.wait().ok, "the number's own route did not come back"
    assert _config_snapshot(asterisk) == files, "the crisis switch touched the config"
    actions = [e["action"] for e in json.loads(pbxctl.ok("audit", "--json").stdout)]
    assert actions[-2:] == ["crisis.on", "crisis.off"]


def test_recorded_call_is_a_playable_file(
        company_on_trunks: tuple[Pbxctl, SoftPhone, SoftPhone], tmp_path: Path) -> None:
    pbxctl, anna, _ivan = company_on_trunks
    pbxctl.ok("record", "on", "--number", DID)
    try:
        answering = anna.answer_one_call(tmp_path)
        assert TELE2.call_with_audio(tmp_path, "8435550101", hold_ms=3000).ok
        assert answering.wait().ok
    finally:
        pbxctl.ok("record", "off", "--number", DID)
    time.sleep(1)
    listed = json.loads(pbxctl.ok("recordings", "list", "--number", DID, "--json").stdout)
    assert listed, "no recording was listed"
    newest = listed[-1]
    assert newest["id"].startswith("pbxctl-") and "+46701234567" not in newest["id"]
    copy = tmp_path / "call.wav"
    pbxctl.ok("recordings", "get", newest["id"], "-o", str(copy))
    with wave.open(str(copy)) as played:
        assert played.getframerate() == 8000 and played.getnchannels() == 1
        assert played.getnframes() > 8000, "less than a second of audio"
    assert pbxctl("recordings", "get", "../../etc/passwd", "-o", str(copy)).exit_code == 2


def test_pausing_a_queue_member_changes_who_rings_without_a_reload(
        company_on_trunks: tuple[Pbxctl, SoftPhone, SoftPhone], asterisk: Path,
        tmp_path: Path) -> None:
    pbxctl, anna, _ivan = company_on_trunks
    boris = add_phone(pbxctl, "kazan", "202", "Boris")
    pbxctl.ok("queue", "add", "kazan", "sales", "--members", "201,202", "--max-wait", "20",
              "--overflow", "ext:301")
    pbxctl.ok("number", "route", DID, "queue:kazan/sales")
    logged_from = sandbox.log_position()
    pbxctl.ok("apply")
    assert sandbox.problems_since(logged_from) == []
    assert boris.register(tmp_path).ok
    files = _config_snapshot(asterisk)

    for paused, rings in ((anna, boris), (boris, anna)):
        pbxctl.ok("queue", "unpause", rings.username, "--queue", "kazan/sales")
        pbxctl.ok("queue", "pause", paused.username, "--queue", "kazan/sales")
        since = sandbox.log_position("full")
        answering = rings.answer_one_call(tmp_path)
        assert TELE2.call(tmp_path, "8435550101").ok
        assert answering.wait().ok, f"{rings.username} did not answer the queue call"
        rung = sandbox.log_since(since)
        assert f"Local/{rings.username}@pbxctl-queue-agent" in rung
        assert f"Local/{paused.username}@pbxctl-queue-agent" not in rung, \
            f"paused {paused.username} was rung"
        (node,) = json.loads(pbxctl.ok("status", "--json").stdout)["nodes"]
        (sales,) = [q for q in node["queues"] if q["name"] == "q-kazan-sales"]
        assert node["connected"] and (sales["members_total"], sales["members_paused"]) == (2, 1)
        phones = {e["name"]: e for e in node["endpoints"] if e["kind"] == "phone"}
        assert phones[rings.username]["contacts"] >= 1
    assert _config_snapshot(asterisk) == files, "pausing touched the config"

    def paused() -> int:
        (node,) = json.loads(pbxctl.ok("status", "--json").stdout)["nodes"]
        return next(q for q in node["queues"] if q["name"] == "q-kazan-sales")["members_paused"]

    # The phone's own feature codes. Asterisk answers, then (un)pauses: the phone stays on
    # long enough for that on a loaded machine (its BYE would end the dialplan first).
    assert anna.call(tmp_path, "*46", hold_ms=2000).ok
    assert paused() == 2
    assert anna.call(tmp_path, "*47", hold_ms=2000).ok
    assert paused() == 1
