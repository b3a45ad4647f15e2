"""The spend brake against a real database (SQLite and PostgreSQL) and a fake Asterisk:
it warns at the warning level and blocks at the cap in AstDB on every node, once; the
spend it uses is the cost report's to the cent; unblocks, their end and a new month; a
node that refuses is tried again. The sandbox test covers real calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from pbxctl.db.models import Node, WebhookMessage
from pbxctl.db.session import make_engine, transaction
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.read.spend import SpendRow, spend_report
from pbxctl.services.spend import BrakeAction, InFlight, SpendService
from tests.asterisk.fake_asterisk import FakeAsterisk
from tests.billing.test_cost_report import cdr
from tests.conftest import Pbxctl

SERVE = Actor("pbxctl serve", "serve")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
BLOCK = "pbxctl-spend/kazan"
DECK = ("prefix,destination,rate_per_minute,connect_fee,min_seconds,increment_seconds\n"
        "7,Russia,1.0000,0.0000,0,1\n")


@pytest.fixture
def capped(company: Pbxctl, tmp_path: Path) -> Pbxctl:
    """Kazan capped at 5.00 RUB (warning at 60 %), calls at 1.00 a minute through tele2,
    a webhook for the brake's events."""
    company.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip",
               "--match", "127.0.0.2")
    deck = tmp_path / "tele2.csv"
    deck.write_text(DECK)
    company.ok("rates", "import", "tele2", str(deck), "--valid-from", "2026-01-01")
    company.ok("department", "limit", "kazan", "--monthly", "5", "--warn-at", "60")
    company.ok("webhook", "add", "https://crm.example.com/pbx", "--events",
               "spend.warning,spend.blocked")
    return company


def _calls(pbxctl: Pbxctl, tmp_path: Path, *calls: tuple[int, str, str, int]) -> None:
    """Import calls (sequence number, department, UTC start, billable seconds)."""
    master = tmp_path / "Master.csv"
    lines = [cdr(seq, dept, "201", "+78432000000", start, billsec, f"PJSIP/tele2-{seq:02d}")
             for seq, dept, start, billsec in calls]
    master.write_text("".join(lines))
    pbxctl.ok("cdr", "import", str(master))


def _connect(fake: FakeAsterisk) -> Callable[[Node], Awaitable[FakeAsterisk]]:
    async def connect(node: Node) -> FakeAsterisk:
        return fake
    return connect


async def _checked(pbxctl: Pbxctl, fake: FakeAsterisk, now: datetime = NOW,
                 in_flight: InFlight | None = None) -> list[BrakeAction]:
    engine = make_engine(pbxctl.database_url)
    try:
        async with transaction(engine) as session:
            service = SpendService(session, AuditTrail(session, SERVE),
                                   _connect(fake))  # type: ignore[arg-type]
            return await service.check(in_flight, now)
    finally:
        await engine.dispose()


async def _unblocked(pbxctl: Pbxctl, fake: FakeAsterisk, now: datetime,
                   until: datetime | None = None) -> datetime:
    engine = make_engine(pbxctl.database_url)
    try:
        async with transaction(engine) as session:
            service = SpendService(session, AuditTrail(session, Actor("anna", "cli")),
                                   _connect(fake))  # type: ignore[arg-type]
            return await service.unblock("kazan", until.date() if until else None, now)
    finally:
        await engine.dispose()


async def _webhook_events_of(pbxctl: Pbxctl) -> list[str]:
    engine = make_engine(pbxctl.database_url)
    try:
        async with transaction(engine) as session:
            return [m.event for m in (await session.scalars(
                select(WebhookMessage).order_by(WebhookMessage.id))).all()]
    finally:
        await engine.dispose()


def _check(pbxctl: Pbxctl, fake: FakeAsterisk, now: datetime = NOW,
           in_flight: InFlight | None = None) -> list[BrakeAction]:
    return asyncio.run(_checked(pbxctl, fake, now, in_flight))


def _unblock(pbxctl: Pbxctl, fake: FakeAsterisk, now: datetime,
             until: datetime | None = None) -> datetime:
    return asyncio.run(_unblocked(pbxctl, fake, now, until))


def _webhook_events(pbxctl: Pbxctl) -> list[str]:
    return asyncio.run(_webhook_events_of(pbxctl))


def _spend(pbxctl: Pbxctl, now: datetime = NOW) -> SpendRow:
    """Kazan's row of ``report spend`` for November as of ``now``."""

    async def read() -> list[SpendRow]:
        engine = make_engine(pbxctl.database_url)
        try:
            async with transaction(engine) as session:
                return await spend_report(session, "2026-11", now)
        finally:
            await engine.dispose()

    (row,) = [r for r in asyncio.run(read()) if r.department == "kazan"]
    return row


def _actions(actions: list[BrakeAction]) -> list[tuple[str, str]]:
    return [(a.department, a.action) for a in actions]


def test_it_warns_then_blocks_once_with_the_cost_reports_spend(
        capped: Pbxctl, tmp_path: Path) -> None:
    fake = FakeAsterisk(tmp_path)
    _calls(capped, tmp_path, (1, "kazan", "2026-11-02 10:00:00", 120),
           (2, "omsk", "2026-11-02 10:00:00", 600))          # omsk has no cap
    assert _check(capped, fake) == []
    _calls(capped, tmp_path, (3, "kazan", "2026-11-03 10:00:00", 90))
    assert _actions(_check(capped, fake)) == [("kazan", "warned")]
    assert _check(capped, fake) == [] and fake.astdb == {}
    _calls(capped, tmp_path, (4, "kazan", "2026-11-04 10:00:00", 121))
    assert _actions(_check(capped, fake)) == [("kazan", "blocked")]
    assert fake.astdb == {BLOCK: "blocked"}
    assert _check(capped, fake) == []               # once

    row = _spend(capped)
    assert (row.spent, row.cap, row.warn_at, row.state) == (
        Decimal("5.52"), Decimal("5.00"), Decimal("3.00"), "blocked")
    costs = json.loads(capped.ok("report", "costs", "--month", "2026-11", "--format",
                                 "json").stdout)["rows"]
    assert next(r for r in costs if r["department"] == "kazan")["call_cost"] == "5.52"
    shown = json.loads(capped.ok("report", "spend", "--month", "2026-11", "--format",
                                 "json").stdout)["rows"]
    assert next(r for r in shown if r["department"] == "kazan")["spent"] == "5.52"
    assert _webhook_events(capped) == ["spend.warning", "spend.blocked"]
    audit = [(e["action"], e["actor"]) for e in json.loads(capped.ok("audit", "--json").stdout)]
    assert ("spend.warning", "pbxctl serve") in audit and ("spend.block", "pbxctl serve") in audit


def test_an_unblock_lasts_the_month_or_until_a_day_then_the_brake_counts_again(
        capped: Pbxctl, tmp_path: Path) -> None:
    fake = FakeAsterisk(tmp_path)
    _calls(capped, tmp_path, (1, "kazan", "2026-11-02 10:00:00", 400))
    assert _actions(_check(capped, fake)) == [("kazan", "warned"), ("kazan", "blocked")]
    # Until November 21st in Moscow: the block is back once that day starts there.
    ends = _unblock(capped, fake, NOW, until=NOW + timedelta(days=1))
    assert ends == datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    assert fake.astdb == {} and _spend(capped).state == "unblocked"
    assert _check(capped, fake, NOW + timedelta(hours=11)) == []
    assert _actions(_check(capped, fake, NOW + timedelta(hours=12))) == [
        ("kazan", "blocked")]
    assert fake.astdb == {BLOCK: "blocked"}
    # For the rest of the month.
    assert _unblock(capped, fake, NOW + timedelta(hours=13)) == datetime(
        2026, 11, 30, 21, 0, tzinfo=UTC)
    assert _check(capped, fake, NOW + timedelta(days=5)) == [] and fake.astdb == {}
    assert _webhook_events(capped) == ["spend.warning", "spend.blocked",
                                             "spend.blocked"]
    unblocks = [e for e in json.loads(capped.ok("audit", "--json").stdout)
                if e["action"] == "spend.unblock"]
    assert [e["actor"] for e in unblocks] == ["anna", "anna"]


def test_a_new_month_lifts_the_block_by_itself(capped: Pbxctl, tmp_path: Path) -> None:
    fake = FakeAsterisk(tmp_path)
    _calls(capped, tmp_path, (1, "kazan", "2026-11-02 10:00:00", 400))
    _check(capped, fake)
    assert fake.astdb == {BLOCK: "blocked"}
    assert _check(capped, fake, datetime(2026, 11, 30, 20, 59, tzinfo=UTC)) == []
    december = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)     # midnight in Moscow
    assert _actions(_check(capped, fake, december)) == [("kazan", "unblocked")]
    assert fake.astdb == {}
    assert _check(capped, fake, december + timedelta(minutes=1)) == []
    assert capped("department", "unblock", "kazan").exit_code == 1   # nothing to lift


def test_calls_in_flight_count_and_a_refusing_node_is_tried_again(
        capped: Pbxctl, tmp_path: Path) -> None:
    fake = FakeAsterisk(tmp_path, refuse_astdb=True)
    flying = {("kazan", "RUB"): Decimal("6.0000")}
    assert _actions(_check(capped, fake, in_flight=flying)) == [
        ("kazan", "warned"), ("kazan", "failed")]
    assert fake.astdb == {} and _webhook_events(capped) == ["spend.warning"]
    assert _spend(capped).state == "warning"
    fake.refuse_astdb = False
    assert _actions(_check(capped, fake, in_flight=flying)) == [("kazan", "blocked")]
    assert fake.astdb == {BLOCK: "blocked"}
    assert _spend(capped).spent == Decimal("0.00")   # the report counts stored calls only


@pytest.mark.parametrize(("args", "code", "text"), [
    (("department", "limit", "kazan"), 2, "--monthly AMOUNT or --none"),
    (("department", "limit", "kazan", "--monthly", "5", "--none"), 2, "--none"),
    (("department", "limit", "kazan", "--monthly", "-5"), 2, "--monthly"),
    (("department", "limit", "kazan", "--monthly", "1e3"), 2, "--monthly"),
    (("department", "limit", "kazan", "--monthly", "0"), 2, "--monthly"),
    (("department", "limit", "kazan", "--monthly", "5.001"), 2, "--monthly"),
    (("department", "limit", "kazan", "--monthly", "5", "--warn-at", "0"), 2, "--warn-at"),
    (("department", "limit", "kazan", "--monthly", "5", "--currency", "rub"), 2,
     "--currency"),
    (("department", "limit", "kaz/an", "--monthly", "5"), 2, "department"),
    (("department", "limit", "omsk", "--none"), 1, "no limit"),
    (("department", "unblock", "omsk"), 1, "not blocked"),
    (("department", "unblock", "kazan", "--until", "2026-13-01"), 2, "--until"),
    (("report", "spend", "--month", "2026-1"), 2, "--month"),
])
def test_bad_input_is_refused_and_changes_nothing(capped: Pbxctl, args: tuple[str, ...],
                                                 code: int, text: str) -> None:
    before = capped.ok("department", "limits", "--json").stdout
    result = capped(*args)
    assert result.exit_code == code, result.stderr
    assert text in result.stderr
    assert capped.ok("department", "limits", "--json").stdout == before


def test_limits_are_listed_changed_and_removed_with_an_audit_row_each(capped: Pbxctl) -> None:
    capped.ok("department", "limit", "sales-east", "--monthly", "12000.50", "--currency", "EUR")
    listed = json.loads(capped.ok("department", "limits", "--json").stdout)
    assert listed == [
        {"department": "kazan", "monthly": "5.00", "warn_at_percent": 60, "currency": "RUB"},
        {"department": "sales-east", "monthly": "12000.50", "warn_at_percent": 80,
         "currency": "EUR"}]
    rows = {r["department"]: r for r in json.loads(capped.ok(
        "report", "spend", "--format", "json").stdout)["rows"]}
    assert rows["sales-east"]["state"] == "ok" and rows["sales-east"]["spent"] == "0.00"
    shown = json.loads(capped.ok("status", "--json").stdout)["spend"]
    assert [(r["department"], r["cap"], r["state"]) for r in shown] == [
        ("kazan", "5.00", "ok"), ("sales-east", "12000.50", "ok")]
    assert "spend: department kazan: spent 0.00 of 5.00 RUB" in capped.ok("status").stdout
    capped.ok("department", "limit", "sales-east", "--none")
    assert [r["department"] for r in json.loads(
        capped.ok("department", "limits", "--json").stdout)] == ["kazan"]
    actions = [e["action"] for e in json.loads(capped.ok("audit", "--json").stdout)]
    assert actions.count("department.limit") == 2
    assert actions.count("department.limit.remove") == 1
