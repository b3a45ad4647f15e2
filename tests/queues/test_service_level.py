"""queue_log backfill and the service-level report against figures worked out by hand."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from pbxctl.queues.queue_log import read_queue_log
from pbxctl.queues.service_level import service_level_row
from tests.conftest import Pbxctl

Q = "q-kazan-sales"
# Europe/Moscow: 2026-10-01 00:00 local = 1790802000 (2026-09-30 21:00 UTC)
OCT1 = 1790802000
LOG = "\n".join([
    f"{OCT1 + 100}|c1|{Q}|NONE|ENTERQUEUE||+4670|1",
    f"{OCT1 + 105}|c1|{Q}|201|CONNECT|5|c1b|5",          # answered in 5 s
    f"{OCT1 + 200}|c2|{Q}|NONE|ENTERQUEUE||+4670|1",
    f"{OCT1 + 220}|c2|{Q}|202|CONNECT|20|c2b|20",        # answered in 20 s: still within
    f"{OCT1 + 300}|c3|{Q}|NONE|ENTERQUEUE||+4670|1",
    f"{OCT1 + 345}|c3|{Q}|201|CONNECT|45|c3b|10",        # answered in 45 s: too late
    f"{OCT1 + 400}|c4|{Q}|NONE|ENTERQUEUE||+4670|1",
    f"{OCT1 + 408}|c4|{Q}|NONE|ABANDON|1|1|8",           # gave up after 8 s
    f"{OCT1 + 500}|c5|{Q}|NONE|ENTERQUEUE||+4670|1",
    f"{OCT1 + 530}|c5|{Q}|NONE|ABANDON|1|1|30",          # gave up after 30 s
    f"{OCT1 + 600}|c6|{Q}|NONE|ENTERQUEUE||+4670|1",
    f"{OCT1 + 660}|c6|{Q}|NONE|EXITWITHTIMEOUT|1|1|60",  # overflowed after 60 s
    f"{OCT1 - 100}|c0|{Q}|NONE|ENTERQUEUE||+4670|1",     # Sept 30 in Moscow: not October
    f"{OCT1 - 90}|c0|{Q}|201|CONNECT|10|c0b|1",
    f"{OCT1 + 900}|c7|{Q}|NONE|ENTERQUEUE||+4670|1",     # still waiting at the end of the log
    "garbage line",
    "",
])


def test_stays_are_read_from_the_log() -> None:
    stays, bad = read_queue_log(LOG)
    assert [(s.callid, s.outcome, s.wait_seconds) for s in stays] == [
        ("c1", "answered", 5), ("c2", "answered", 20), ("c3", "answered", 45),
        ("c4", "abandoned", 8), ("c5", "abandoned", 30), ("c6", "timeout", 60),
        ("c0", "answered", 10)]
    assert [b.line for b in bad] == [16]


def test_service_level_definitions() -> None:
    row = service_level_row("2026-10", "kazan/sales", 20, 90,
                            [("answered", 5), ("answered", 20), ("answered", 45),
                             ("abandoned", 8), ("abandoned", 30), ("timeout", 60)])
    # 2 of 6 offered answered within 20 s = 33.3 %; ASA (5 + 20 + 45) / 3 = 23.3 s
    assert (row.offered, row.answered, row.answered_within) == (6, 3, 2)
    assert row.service_level == Decimal("33.3") and not row.met
    assert (row.abandoned, row.abandoned_within) == (2, 1)
    assert row.asa_seconds == Decimal("23.3") and row.longest_wait == 60


def test_sla_report_from_a_queue_log_backfill(company: Pbxctl, tmp_path: Path) -> None:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna")
    company.ok("queue", "add", "kazan", "sales", "--members", "201")
    log = tmp_path / "queue_log"
    log.write_text(LOG)
    first = json.loads(company.ok("queue", "import-log", str(log), "--json").stdout)
    assert first == {"stays": 7, "inserted": 7, "duplicates": 0, "bad_lines": 1}
    again = json.loads(company.ok("queue", "import-log", str(log), "--json").stdout)
    assert (again["inserted"], again["duplicates"]) == (0, 7)

    result = company.ok("report", "sla", "--month", "2026-10", "--format", "json")
    (row,) = json.loads(result.stdout)["rows"]
    assert row == {"period": "2026-10", "queue": "kazan/sales", "offered": 6, "answered": 3,
                   "answered_within": 2, "service_level": "33.3", "target": 90,
                   "met": False, "abandoned": 2, "abandoned_within": 1,
                   "asa_seconds": "23.3", "longest_wait": 60}
    assert "Below target" in result.stderr
    by_day = company.ok("report", "sla", "--month", "2026-10", "--by", "day").stdout
    assert by_day.splitlines()[1].startswith("2026-10-01,kazan/sales,6,3,2,33.3")
    september = json.loads(company.ok("report", "sla", "--month", "2026-09", "--format",
                                      "json").stdout)["rows"]
    assert (september[0]["offered"], september[0]["answered_within"]) == (1, 1)
