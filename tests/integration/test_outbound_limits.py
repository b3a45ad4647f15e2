"""The brakes on a branch's outbound calls (issue 13) on a real Asterisk, counted at the
carrier: concurrent calls (``--max-calls``), the longest call per class (``--max-minutes``)
and the classes that go out after hours (``--after-hours-allow``). Emergency calls pass
every brake. SIPp plays the phones and the carrier (127.0.0.4, used by no other test)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sandboxkit import sandbox
from sandboxkit.sipp import BackgroundSipp, SippCarrier, SoftPhone

from tests.conftest import Pbxctl
from tests.integration.conftest import calling_out

LIMTEL = SippCarrier("limtel", "127.0.0.4")
NATIONAL, MOBILE, INTERNATIONAL = "88432000000", "89161234567", "81046701234567"
# ... as limtel (national:7) gets them.
AT_CARRIER = {NATIONAL: "8432000000", MOBILE: "9161234567", INTERNATIONAL: "46701234567"}


@pytest.fixture
def branch_out(pbxctl: Pbxctl, asterisk: Path, tmp_path: Path
               ) -> tuple[Pbxctl, str, list[SoftPhone]]:
    """A fresh branch with phones 601-604 that may call national, mobile and international
    numbers through limtel."""
    branch, anna = calling_out(pbxctl, asterisk, tmp_path, LIMTEL, "601", "+78435550601")
    phones = [anna]
    for number in ("602", "603", "604"):
        creds = json.loads(pbxctl.ok("ext", "add", branch, number, "--name", "Staff",
                                     "--json").stdout)
        phones.append(SoftPhone(creds["username"], creds["password"]))
    pbxctl.ok("branch", "outbound", branch, "--allow", "national,mobile,international")
    return pbxctl, branch, phones


def _apply(pbxctl: Pbxctl) -> None:
    logged_from = sandbox.log_position()
    pbxctl.ok("apply")
    assert sandbox.problems_since(logged_from) == [], "Asterisk complained about the config"


def _invited(carrier: BackgroundSipp) -> list[str]:
    return [ruri for _at, event, ruri in carrier.events() if event == "INVITE"]


def _rows_from(branch: str, since: int) -> list[dict[str, str]]:
    return [r for r in sandbox.cdr_rows()[since:] if r["accountcode"] == branch]


def test_a_branch_at_its_max_calls_gets_congestion_and_the_cdr_says_why(
        branch_out: tuple[Pbxctl, str, list[SoftPhone]], tmp_path: Path) -> None:
    pbxctl, branch, (anna, boris, clara, dora) = branch_out
    pbxctl.ok("branch", "outbound", branch, "--max-calls", "2")
    _apply(pbxctl)
    before = len(sandbox.cdr_rows())
    carrier = LIMTEL.answer_all_calls(tmp_path, 40, calls=4)
    first = anna.start_call(tmp_path, NATIONAL, hold_ms=7000)
    time.sleep(1.0)
    second = boris.start_call(tmp_path, MOBILE, hold_ms=6000)
    # both answered at the carrier before the third is tried (under load a fixed pause
    # was not always enough)
    deadline = time.monotonic() + 10
    while [e for _, e, _ in carrier.events()].count("ANSWERED") < 2:
        assert time.monotonic() < deadline, carrier.events()
        time.sleep(0.2)
    third = clara.call(tmp_path, INTERNATIONAL)
    assert not third.ok, "a third call went out with --max-calls 2"
    assert "SIP/2.0 503 Service Unavailable" in third.errors, third.errors   # congestion
    emergency = dora.call(tmp_path, "112", hold_ms=500)
    assert emergency.ok, f"112 was held back by the channel limit: {emergency.errors}"
    assert first.wait().ok and second.wait().ok, "the two calls within the limit failed"
    after = anna.call(tmp_path, NATIONAL, hold_ms=500)
    assert after.ok, "the limit did not free its channels"
    assert carrier.wait().ok
    assert _invited(carrier) == [AT_CARRIER[NATIONAL], AT_CARRIER[MOBILE], "112",
                                 AT_CARRIER[NATIONAL]]

    rows = _rows_from(branch, before)
    refused = [r for r in rows if r["src"] == "603"]
    assert len(refused) == 1, rows
    assert refused[0]["userfield"] == "pbxctl:max-calls", refused
    assert refused[0]["dst"] == "+46701234567" and refused[0]["dstchannel"] == "", refused
    assert refused[0]["disposition"] != "ANSWERED"
    assert not [r for r in rows if r["src"] != "603" and r["userfield"]], rows


def _epoch(text: str) -> str:
    return str(int(datetime.fromisoformat(text).astimezone(UTC).timestamp()))


def test_calls_are_cut_at_their_class_limit_but_emergency_calls_are_not(
        branch_out: tuple[Pbxctl, str, list[SoftPhone]], tmp_path: Path) -> None:
    pbxctl, branch, (anna, boris, clara, _dora) = branch_out
    pbxctl.ok("branch", "outbound", branch, "--max-minutes", "national=10s,mobile=61s")
    _apply(pbxctl)
    before = len(sandbox.cdr_rows())
    logged_from = sandbox.log_position("full")
    carrier = LIMTEL.answer_all_calls(tmp_path, 40, calls=3)
    held = anna.start_held_call(tmp_path, NATIONAL, seconds=30)
    emergency = boris.start_call(tmp_path, "112", hold_ms=13000)
    # mobile: 61 s, so a beep 60 s before the end, 1 s after the answer.
    warned = clara.call(tmp_path, MOBILE, hold_ms=3000)
    assert warned.ok, warned.errors
    assert held.wait(40).ok, "Asterisk did not hang up the national call"
    assert emergency.wait().ok, "the emergency call was cut"
    assert carrier.wait().ok

    answered: dict[str, float] = {}
    lasted: dict[str, float] = {}
    for at, event, ruri in carrier.events():
        if event == "ANSWERED" and at is not None:
            answered[ruri] = at
        elif event == "BYE" and at is not None:
            lasted[ruri] = at - answered[ruri]
    assert 9.5 <= lasted[AT_CARRIER[NATIONAL]] <= 11.5, lasted
    assert lasted["112"] >= 12.5, lasted
    assert 2.5 <= lasted[AT_CARRIER[MOBILE]] <= 4.5, lasted

    rows = _rows_from(branch, before)
    (national,) = [r for r in rows if r["src"] == "601" and r["disposition"] == "ANSWERED"]
    assert national["dstchannel"].startswith("PJSIP/limtel-")
    assert int(national["billsec"]) in (9, 10, 11), national
    assert national["userfield"] == "pbxctl:max-minutes", national
    assert [r["userfield"] for r in rows if r["src"] != "601"] == ["", ""], rows
    full = sandbox.log_since(logged_from)
    assert "L(10000)" in full and "L(61000:60000)" in full, "Dial got no limit"
    assert "Playing 'beep" in full, "no warning beep before the end of the mobile call"


def test_after_hours_only_the_allowed_classes_go_out(
        branch_out: tuple[Pbxctl, str, list[SoftPhone]], tmp_path: Path) -> None:
    pbxctl, branch, (anna, *_others) = branch_out
    pbxctl.ok("branch", "hours", branch, "mon-fri 09:00-18:00")
    pbxctl.ok("branch", "outbound", branch, "--after-hours-allow", "national")
    _apply(pbxctl)
    before = len(sandbox.cdr_rows())
    try:
        # Monday 22:00 in Kazan: closed.
        sandbox.set_global_variable("PBXCTL_CLOCK", _epoch("2026-11-23T22:00:00+03:00"))
        carrier = LIMTEL.answer_all_calls(tmp_path, 30, calls=2)
        for dialed in (MOBILE, INTERNATIONAL):
            refused = anna.call(tmp_path, dialed)
            assert not refused.ok, f"{dialed} went out after hours"
            assert "SIP/2.0 403 Forbidden" in refused.errors, refused.errors
        assert anna.call(tmp_path, NATIONAL, hold_ms=500).ok, "national was refused at night"
        assert anna.call(tmp_path, "112", hold_ms=500).ok, "112 was refused at night"
        assert carrier.wait().ok
        assert _invited(carrier) == [AT_CARRIER[NATIONAL], "112"]
        refused = [r for r in _rows_from(branch, before) if r["userfield"]]
        assert sorted((r["dst"], r["userfield"]) for r in refused) == [
            ("+46701234567", "pbxctl:after-hours"), ("+79161234567", "pbxctl:after-hours")]

        # Monday 10:00: open, every allowed class goes out.
        sandbox.set_global_variable("PBXCTL_CLOCK", _epoch("2026-11-23T10:00:00+03:00"))
        carrier = LIMTEL.answer_all_calls(tmp_path, 30, calls=2)
        for dialed in (MOBILE, INTERNATIONAL):
            assert anna.call(tmp_path, dialed, hold_ms=500).ok, f"{dialed} refused by day"
        assert carrier.wait().ok
        assert _invited(carrier) == [AT_CARRIER[MOBILE], AT_CARRIER[INTERNATIONAL]]
    finally:
        sandbox.set_global_variable("PBXCTL_CLOCK", "")
