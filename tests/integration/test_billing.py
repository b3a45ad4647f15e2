"""Real outbound calls through the sandbox Asterisk to a SIPp carrier with a known deck:
stored live from AMI Cdr events, the cost report matches costs worked out by hand to the
cent, and importing Master.csv afterwards changes nothing."""

from __future__ import annotations

import json
import signal
import time
import uuid
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sandboxkit import sandbox
from sandboxkit.processes import start_follow
from sandboxkit.sipp import SippCarrier, SoftPhone

from tests.conftest import Pbxctl
from tests.integration.conftest import add_sandbox_node

MTS = SippCarrier("mts", "127.0.0.3")
DECK = ("prefix,destination,rate_per_minute,connect_fee,min_seconds,increment_seconds\n"
        "7,Russia,1.2000,0.0500,0,1\n")


def _branches() -> dict[str, tuple[str, str, str, str]]:
    """Two branches whose slugs (departments) are new in every test: Master.csv keeps
    the calls of earlier tests and runs."""
    run = uuid.uuid4().hex[:6]
    return {f"a{run}": ("Europe/Moscow", "500-599", "501", "+78435550501"),
            f"b{run}": ("Asia/Omsk", "600-699", "601", "+73812550601")}


def _hand_cost(billsec: int) -> Decimal:
    """The deck's price worked out independently: fee + 1.20/min per second, 4 places."""
    if billsec == 0:
        return Decimal(0)
    exact = Decimal("0.0500") + Decimal("1.2000") * billsec / 60
    return exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _report(pbxctl: Pbxctl, month: str, departments: set[str]) -> dict[str, dict[str, str]]:
    data = json.loads(pbxctl.ok("report", "costs", "--month", month, "--format",
                                "json").stdout)
    return {r["department"]: r for r in data["rows"] if r["department"] in departments}


def test_live_cdrs_are_rated_to_the_cent_and_backfill_adds_nothing(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    branches = _branches()
    billa, billb = branches
    add_sandbox_node(pbxctl, asterisk)
    pbxctl.ok("carrier", "add", "mts", "--host", MTS.address, "--auth", "ip", "--match",
              MTS.address, "--number-format", "plus", "--qualify", "0")
    deck = tmp_path / "mts.csv"
    deck.write_text(DECK)
    pbxctl.ok("rates", "import", "mts", str(deck), "--valid-from", "2026-01-01")
    phones = {}
    for slug, (zone, ext_range, ext, did) in branches.items():
        pbxctl.ok("branch", "add", slug, "--name", f"Branch {slug}", "--city", "Test",
                  "--timezone", zone, "--ext-range", ext_range)
        creds = json.loads(pbxctl.ok("ext", "add", slug, ext, "--name", "Caller",
                                     "--json").stdout)
        phones[slug] = SoftPhone(creds["username"], creds["password"])
        pbxctl.ok("number", "add", did, "--carrier", "mts", "--branch", slug,
                  "--monthly-fee", "0.00", "--route", f"ext:{ext}")
        pbxctl.ok("branch", "outbound", slug, "--dialing", "national:7", "--carriers", "mts",
                  "--caller-id", did, "--allow", "national,mobile")
    pbxctl.ok("apply")

    already = len(sandbox.cdr_rows())
    follower = start_follow(pbxctl.database_url, "--json")
    calls = [(billa, "88432000001", 2500), (billa, "89161234567", 1200),
             (billb, "83812000002", 1800)]
    try:
        for slug, dialed, hold_ms in calls:
            answering = MTS.answer_one_call(tmp_path)
            placed = phones[slug].call(tmp_path, dialed, hold_ms=hold_ms)
            assert placed.ok, placed.errors
            assert answering.wait().ok
        ours = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(ours) < len(calls):
            ours = [r for r in sandbox.cdr_rows()[already:] if r["accountcode"] in branches
                    and r["disposition"] == "ANSWERED" and r["dstchannel"].startswith("PJSIP/mts-")
                    and r["dst"] in {"+78432000001", "+79161234567", "+73812000002"}]
            time.sleep(0.2)
        assert len(ours) == len(calls)
        time.sleep(1)
    finally:
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=20)
    assert follower.returncode == 0, err
    assert json.loads(out)["inserted"] >= len(calls)

    expected: dict[str, Decimal] = {}
    months: dict[str, str] = {}   # each branch's month in its own zone (they may differ)
    for row in ours:
        zone = branches[row["accountcode"]][0]
        local = datetime.fromisoformat(row["start"] + "+00:00").astimezone(ZoneInfo(zone))
        months[row["accountcode"]] = local.strftime("%Y-%m")
        expected[row["accountcode"]] = expected.get(row["accountcode"], Decimal(0)) + \
            _hand_cost(int(row["billsec"]))
    live = {slug: _report(pbxctl, month, {slug})[slug] for slug, month in months.items()}
    for slug, cost in expected.items():
        assert live[slug]["call_cost"] == str(cost.quantize(Decimal("0.01"), ROUND_HALF_UP))
        assert int(live[slug]["outbound_calls"]) == sum(
            1 for r in ours if r["accountcode"] == slug)
    assert int(live[billa]["billable_seconds"]) == sum(
        int(r["billsec"]) for r in ours if r["accountcode"] == billa)

    imported = json.loads(pbxctl.ok("cdr", "import", str(sandbox.master_csv()), "--node",
                                    "local", "--json").stdout)
    assert imported["duplicates"] >= len(calls)
    assert {slug: _report(pbxctl, month, {slug})[slug]
            for slug, month in months.items()} == live
