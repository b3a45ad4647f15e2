"""The spend brake on the sandbox Asterisk: a branch's department capped at 10.00, calls
priced by an imported deck (60.00 a minute: a second costs 1.00). A long call crosses the
cap while it runs: ``serve`` counts it in flight and blocks the department in AstDB
before it ends, so the next national call is refused before the SIPp carrier sees it,
while the long call finishes and 112 still reaches the carrier. The webhook receiver
gets ``spend.warning`` then ``spend.blocked``; the spend the brake counts is the cost
report's to the cent once the calls are stored. The block holds across restarts of
serve and of Asterisk; ``department unblock`` lifts it at once."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from sandboxkit import sandbox
from sandboxkit.processes import wait_for
from sandboxkit.sipp import SippCarrier, SoftPhone

from pbxctl.billing.rating import round_money
from tests.conftest import Pbxctl
from tests.integration.conftest import Receiver, calling_out, delivered
from tests.integration.test_no_call_lost import serving
from tests.integration.test_serve_resilience import FAST

CARRIER = SippCarrier("tele2", "127.0.0.2")
NATIONAL = "84955550100"
DECK = ("prefix,destination,rate_per_minute,connect_fee,min_seconds,increment_seconds\n"
        "7,Russia,60.0000,0.0000,0,1\n")


def spend_of(pbxctl: Pbxctl, department: str) -> dict[str, str]:
    rows = json.loads(pbxctl.ok("report", "spend", "--format", "json").stdout)["rows"]
    return next(r for r in rows if r["department"] == department)  # type: ignore[no-any-return]


def goes_out(phone: SoftPhone, work: Path, number: str = NATIONAL) -> bool:
    """The call reached the carrier and was answered there."""
    carrier = CARRIER.answer_one_call(work)
    placed = phone.call(work, number, hold_ms=500)
    return placed.ok and carrier.wait().ok


def refused_before_the_carrier(phone: SoftPhone, work: Path) -> bool:
    """The call failed and the carrier saw no INVITE."""
    listening = CARRIER.listen(work, 6)
    placed = phone.call(work, NATIONAL)
    listening.wait()
    return not placed.ok and listening.invites() == []


def test_the_brake_blocks_at_the_cap_and_holds_until_unblocked(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path, receiver: str) -> None:
    branch, anna = calling_out(pbxctl, asterisk, tmp_path, CARRIER, "611", "+78435550611")
    deck = tmp_path / "dear.csv"
    deck.write_text(DECK)
    pbxctl.ok("rates", "import", "tele2", str(deck), "--valid-from", "2026-01-02")
    pbxctl.ok("department", "limit", branch, "--monthly", "10", "--warn-at", "50")
    pbxctl.env["PBXCTL_WEBHOOK_ALLOW_NETWORKS"] = FAST["PBXCTL_WEBHOOK_ALLOW_NETWORKS"]
    pbxctl.ok("webhook", "add", receiver, "--events", "spend.warning,spend.blocked")
    Receiver.down_for = 0
    assert anna.register(tmp_path).ok
    settings = {**FAST, "PBXCTL_SPEND_CHECK_EVERY": "0.5"}

    with serving(pbxctl.database_url, tmp_path, settings) as serve:
        answering = CARRIER.answer_one_call(tmp_path)
        assert anna.call(tmp_path, NATIONAL, hold_ms=6000).ok
        assert answering.wait().ok
        wait_for("spend.warning", lambda: [e["event"] for e in delivered()] == [
            "spend.warning"], seconds=20)
        assert spend_of(pbxctl, branch)["state"] == "warning"

        # A long call crosses the cap while it runs: the brake counts it in flight and
        # blocks the department before it ends; the call itself finishes.
        answering = CARRIER.answer_one_call(tmp_path)
        long_call = anna.start_call(tmp_path, NATIONAL, hold_ms=15000)
        wait_for("spend.blocked", lambda: [e["event"] for e in delivered()] == [
            "spend.warning", "spend.blocked"], seconds=14)
        assert long_call.process.poll() is None, "the block came only after the call"
        assert long_call.wait().ok and answering.wait().ok
        blocked = delivered()[1]["spend"]
        assert (blocked["department"], blocked["cap"], blocked["currency"]) == (
            branch, "10.00", "RUB")
        wait_for("the long call stored", lambda: Decimal(spend_of(pbxctl, branch)[
            "spent"]) > Decimal(blocked["spent"]) >= Decimal("10.00"), seconds=10)
        spend = spend_of(pbxctl, branch)
        assert spend["state"] == "blocked"

        before = len(sandbox.cdr_rows())
        assert refused_before_the_carrier(anna, tmp_path), "a blocked call went out"
        refused = [r for r in sandbox.cdr_rows()[before:] if r["accountcode"] == branch]
        assert refused and all(r["userfield"] == "pbxctl:spend-cap" for r in refused)
        assert goes_out(anna, tmp_path, "112"), "the emergency call was blocked"
        assert serve.metric("pbxctl_department_blocked", department=branch) == 1

        # The brake used the cost report's spend, to the cent.
        month = spend["month"]
        costs = json.loads(pbxctl.ok("report", "costs", "--month", month, "--department",
                                     branch, "--format", "json").stdout)["rows"]
        assert [r["call_cost"] for r in costs] == [spend["spent"]]
        calls = json.loads(pbxctl.ok("report", "costs", "--month", month, "--department",
                                     branch, "--detail", "--format", "json").stdout)["rows"]
        assert round_money(sum((Decimal(c["cost"]) for c in calls), Decimal(0))) == Decimal(
            spend["spent"])

        serve.kill_and_restart()
        serve.wait_until_following()
        assert refused_before_the_carrier(anna, tmp_path), "the block did not survive serve"

    sandbox.stop()
    sandbox.start()
    assert anna.register(tmp_path).ok
    assert refused_before_the_carrier(anna, tmp_path), "the block did not survive Asterisk"

    pbxctl.ok("department", "unblock", branch)
    assert goes_out(anna, tmp_path), "unblock did not lift the block at once"
    assert spend_of(pbxctl, branch)["state"] == "unblocked"
    audit = [(e["action"], e["actor"]) for e in json.loads(pbxctl.ok("audit", "--json").stdout)
             if e["object_key"] == branch and e["action"].startswith("spend.")]
    assert audit == [("spend.warning", "pbxctl serve"), ("spend.block", "pbxctl serve"),
                     ("spend.unblock", "tester")]
