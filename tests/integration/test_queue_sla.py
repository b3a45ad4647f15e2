"""A branch queue on a real Asterisk: SIPp callers, an agent answering after chosen
delays, a caller giving up. The service-level report equals the figures worked out by hand,
from live AMI events and, separately, from a queue_log backfill."""

from __future__ import annotations

import json
import signal
import time
import uuid
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sandboxkit import sandbox
from sandboxkit.processes import start_follow
from sandboxkit.sipp import SippCarrier, SoftPhone

from tests.conftest import Pbxctl
from tests.integration.conftest import add_sandbox_node

TELE2 = SippCarrier("tele2", "127.0.0.2")
DID = "+78435550101"
THRESHOLD = 5
MOSCOW = ZoneInfo("Europe/Moscow")


def _company(pbxctl: Pbxctl, config_dir: Path, queue: str) -> SoftPhone:
    add_sandbox_node(pbxctl, config_dir)
    pbxctl.ok("branch", "add", "kazan", "--name", "Kazan salon", "--city", "Kazan",
              "--timezone", "Europe/Moscow", "--ext-range", "200-299")
    creds = json.loads(pbxctl.ok("ext", "add", "kazan", "201", "--name", "Anna",
                                 "--json").stdout)
    pbxctl.ok("carrier", "add", "tele2", "--host", TELE2.address, "--auth", "ip", "--match",
              TELE2.address, "--number-format", "national:7", "--qualify", "0")
    pbxctl.ok("queue", "add", "kazan", queue, "--members", "201", "--service-level",
              str(THRESHOLD), "--target", "90", "--max-wait", "30")
    pbxctl.ok("number", "add", DID, "--carrier", "tele2", "--branch", "kazan",
              "--monthly-fee", "0.00", "--route", f"queue:kazan/{queue}")
    return SoftPhone(creds["username"], creds["password"])


def _today_figure(ours: list[list[str]], today: date) -> str:
    """What ``status`` must show for the branch's day: only the stays that began on it
    (a run that crosses midnight in Kazan splits between two days)."""
    waits = {"CONNECT": 5, "ABANDON": 7}
    entered = {f[1]: int(f[0]) for f in ours if f[4] == "ENTERQUEUE"}
    stays = [(f[4], int(f[waits[f[4]]])) for f in ours if f[4] in waits
             and datetime.fromtimestamp(entered[f[1]], MOSCOW).date() == today]
    if not stays:
        return "no calls yet"
    within = sum(1 for kind, wait in stays if kind == "CONNECT" and wait <= THRESHOLD)
    level = (Decimal(within * 100) / len(stays)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"{level}% of {len(stays)}"


def _sla(pbxctl: Pbxctl, month: str, queue: str) -> dict[str, object]:
    rows = json.loads(pbxctl.ok("report", "sla", "--month", month, "--queue",
                                f"kazan/{queue}", "--format", "json").stdout)["rows"]
    (row,) = rows
    return row


def test_service_level_from_live_events_and_from_queue_log(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    queue = f"sla{uuid.uuid4().hex[:6]}"
    anna = _company(pbxctl, asterisk, queue)
    pbxctl.ok("apply")
    assert anna.register(tmp_path).ok
    log_start = sandbox.log_dir().joinpath("queue_log").stat().st_size

    follower = start_follow(pbxctl.database_url)
    try:
        for ring_ms in (1000, 7000):                     # answered fast, answered late
            answering = anna.answer_one_call(tmp_path, after_ms=ring_ms)
            assert TELE2.call(tmp_path, "8435550101").ok
            assert answering.wait().ok
        assert TELE2.call_cancelled(tmp_path, "8435550101", after_ms=2000).ok  # gives up
        time.sleep(2)
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.communicate(timeout=20)

    # By hand, from what Asterisk's queue_log says about this run's three callers.
    section = f"q-kazan-{queue}"
    with sandbox.log_dir().joinpath("queue_log").open("rb") as handle:
        handle.seek(log_start)
        ours = [line.split("|") for line in handle.read().decode().splitlines()
                if f"|{section}|" in line]
    holds = [int(f[5]) for f in ours if f[4] == "CONNECT"]
    abandons = [int(f[7]) for f in ours if f[4] == "ABANDON"]
    assert len(holds) == 2 and len(abandons) == 1
    within = sum(1 for h in holds if h <= THRESHOLD)
    assert within == 1, holds
    expected = {
        "offered": 3, "answered": 2, "answered_within": 1, "abandoned": 1,
        "abandoned_within": sum(1 for w in abandons if w <= THRESHOLD),
        "service_level": str((Decimal(within * 100) / 3).quantize(Decimal("0.1"),
                                                                  ROUND_HALF_UP)),
        "asa_seconds": str((Decimal(sum(holds)) / 2).quantize(Decimal("0.1"),
                                                              ROUND_HALF_UP)),
        "longest_wait": max(holds + abandons), "met": False, "target": 90,
    }
    month = time.strftime("%Y-%m", time.gmtime(int(ours[0][0]) + 3 * 3600))
    live = _sla(pbxctl, month, queue)
    assert {k: live[k] for k in expected} == expected
    moscow_today = datetime.now(MOSCOW).date()
    (node,) = json.loads(pbxctl.ok("status", "--json").stdout)["nodes"]
    (now,) = [q for q in node["queues"] if q["name"] == section]
    assert now["today"] == _today_figure(ours, moscow_today)

    backfill = Pbxctl(f"sqlite+aiosqlite:///{tmp_path / 'backfill.db'}", {})
    backfill.ok("init")
    _company(backfill, asterisk, queue)
    log_copy = tmp_path / "queue_log"
    log_copy.write_text("\n".join("|".join(f) for f in ours) + "\n")
    backfill.ok("queue", "import-log", str(log_copy))
    assert _sla(backfill, month, queue) == live
