"""The monthly cost report against figures worked out by hand: deck versions changing
mid-month, months in each branch's zone, failover, unrated calls, prorated rental,
re-import and re-rating."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.ami_events import CdrReported
from pbxctl.billing.rate_table import RateTable
from pbxctl.db.models import Cdr, CostTotal
from pbxctl.destinations import Destination
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.branches import BranchService, BranchSpec
from pbxctl.services.carriers import CarrierService, CarrierSpec
from pbxctl.services.cdrs import (
    PG_COPY_MIN_ROWS,
    CdrStore,
    load_rate_book,
    load_rate_columns,
)
from pbxctl.services.nodes import NodeService, NodeSpec
from pbxctl.services.numbers import NumberService, NumberSpec
from pbxctl.services.rates import RateService
from pbxctl.services.read.reports import ReportService

TELE2_V1 = ("prefix,destination,rate_per_minute,connect_fee,min_seconds,increment_seconds\n"
            "7,Russia,1.0000,0.1000,60,60\n79,Russia mobile,3.0000,0,0,1\n")
TELE2_V2 = TELE2_V1.replace("1.0000,0.1000", "2.0000,0.0000")
MTS = ("prefix,destination,rate_per_minute,connect_fee,min_seconds,increment_seconds,"
       "valid_from\n46,Sweden,6.0000,0.0500,30,6,2026-10-01\n")


def cdr(seq: int, dept: str, src: str, dst: str, start: str, billsec: int,
        dstchannel: str, channel: str | None = None, disposition: str = "ANSWERED") -> str:
    channel = channel or f"PJSIP/{src}-000000{seq:02d}"
    answer = start if billsec else ""
    return (f'"{dept}","{src}","{dst}","ctx","""X"" <{src}>","{channel}","{dstchannel}",'
            f'"Dial","x","{start}","{answer}","{start}",{billsec},{billsec},"{disposition}",'
            f'"DOCUMENTATION","1790000000.{seq}","","","1790000000.{seq}",{seq}\n')


HANGUP = Destination("hangup", "")
MASTER = "".join([
    cdr(1, "kazan", "201", "+78432000000", "2026-10-01 05:00:00", 61, "PJSIP/tele2-01"),
    cdr(2, "kazan", "201", "+79161234567", "2026-10-10 10:00:00", 45, "PJSIP/tele2-02"),
    cdr(3, "kazan", "201", "+78432000000", "2026-10-20 10:00:00", 30, "PJSIP/tele2-03"),
    cdr(4, "kazan", "202", "+46701234567", "2026-10-21 10:00:00", 0, "PJSIP/tele2-04",
        disposition="CONGESTION"),
    cdr(5, "kazan", "202", "+46701234567", "2026-10-21 10:00:00", 31, "PJSIP/mts-05"),
    cdr(6, "omsk", "301", "+73812000000", "2026-10-31 17:30:00", 100, "PJSIP/tele2-06"),
    cdr(7, "omsk", "301", "+73812000000", "2026-10-31 18:30:00", 100, "PJSIP/tele2-07"),
    cdr(8, "kazan", "202", "+78432000000", "2026-10-31 20:30:00", 1, "PJSIP/tele2-08"),
    cdr(9, "kazan", "202", "+78432000000", "2026-10-31 21:30:00", 1, "PJSIP/tele2-09"),
    cdr(10, "kazan", "201", "+78432000000", "2026-10-05 10:00:00", 10, "PJSIP/beeline-10"),
    cdr(11, "", "+46701234567", "+78435550101", "2026-10-06 10:00:00", 50, "PJSIP/201-11",
        channel="PJSIP/tele2-11"),
    cdr(12, "kazan", "201", "301", "2026-10-07 10:00:00", 20, "PJSIP/301-12"),
    cdr(13, "kazan", "201", "+78432000000", "2026-10-08 10:00:00", 0, "PJSIP/tele2-13",
        disposition="NO ANSWER"),
]).encode()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class Clock:
    """A settable clock for the number history."""

    now = at("2026-09-01T00:00+03:00")

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def company(session: AsyncSession) -> tuple[AsyncSession, Clock]:
    audit = AuditTrail(session, Actor("tester", "cli"))
    await NodeService(session, audit, (Path("/tmp"),)).add(NodeSpec(
        "local", "127.0.0.1", 5038, "pbxctl", "secret-123", "/tmp", "127.0.0.1"))
    branches = BranchService(session, audit)
    await branches.add(BranchSpec("kazan", "Kazan", "Kazan", "Europe/Moscow", "200-299"))
    await branches.add(BranchSpec("omsk", "Omsk", "Omsk", "Asia/Omsk", "300-399"))
    carriers = CarrierService(session, audit)
    for slug, address in (("tele2", "127.0.0.2"), ("mts", "127.0.0.3")):
        await carriers.add(slug, CarrierSpec(host=address, auth="ip", match=(address,)))
    rates = RateService(session, audit)
    await rates.import_deck("tele2", TELE2_V1, "t1.csv", datetime(2026, 10, 1).date())
    await rates.import_deck("tele2", TELE2_V2, "t2.csv", datetime(2026, 10, 16).date())
    await rates.import_deck("mts", MTS, "mts.csv", None)

    clock = Clock()
    numbers = NumberService(session, audit, clock)
    for e164, branch, fee in (("+78435550101", "kazan", "310.00"),
                              ("+73812550101", "omsk", "93.00"),
                              ("+78435550103", "kazan", "62.00")):
        await numbers.add(NumberSpec(e164, "tele2", branch, Decimal(fee), HANGUP))
    clock.now = at("2026-10-11T10:00+03:00")
    await numbers.add(NumberSpec("+78435550102", "tele2", "kazan", Decimal("155.00"), HANGUP))
    clock.now = at("2026-10-16T12:00+03:00")
    await numbers.release("+78435550103")
    clock.now = at("2026-10-21T12:00+06:00")
    await numbers.move("+73812550101", branch="kazan")
    return session, clock


async def test_report_matches_the_hand_worked_figures(
        company: tuple[AsyncSession, Clock]) -> None:
    session, _clock = company
    summary = await CdrStore(session).import_master_csv(MASTER, "Master.csv", "local")
    assert (summary.inserted, summary.quarantined, summary.unrated) == (13, 0, 1)

    report = await ReportService(session).costs(2026, 10, detail=True)
    by_dept = {row.department: row for row in report.rows}
    kazan, omsk = by_dept["kazan"], by_dept["omsk"]
    # kazan: 2.1000 (v1, fee + 2 min) + 2.2500 (79, 45 s at 1/1) + 2.0000 (v2) + 3.6500
    # (mts 30/6: 36 s + fee) + 2.0000 (Oct 31 23:30 Moscow) = 12.00
    assert (kazan.outbound_calls, kazan.billable_seconds, kazan.charged_seconds) == (5, 168, 321)
    assert kazan.call_cost == Decimal("12.00")
    # rental: 310 (whole month) + 155*21/31 (added on the 11th) + 62*15/31 (released on
    # the 16th) + 93*11/31 (arrived from omsk on the 21st) = 310 + 105 + 30 + 33
    assert kazan.number_rental == Decimal("478.00") and kazan.total == Decimal("490.00")
    # omsk: one call on Oct 31 23:30 Omsk time (v2, 2 min), the next one is November there
    assert (omsk.outbound_calls, omsk.call_cost) == (1, Decimal("4.00"))
    assert omsk.number_rental == Decimal("60.00") and omsk.total == Decimal("64.00")
    assert report.unrated == 1

    for row in report.rows:
        detail_sum = sum(d.cost for d in report.details if d.department == row.department)
        assert round(detail_sum, 2) == row.call_cost
    assert {d.time for d in report.details if d.department == "omsk"} == {"2026-10-31 23:30:00"}

    again = await CdrStore(session).import_master_csv(MASTER, "Master.csv", "local")
    assert (again.inserted, again.duplicates) == (0, 13)
    assert (await ReportService(session).costs(2026, 10)).rows == report.rows


async def test_rerating_after_a_deck_correction(company: tuple[AsyncSession, Clock]) -> None:
    session, _clock = company
    await CdrStore(session).import_master_csv(MASTER, "Master.csv", "local")
    audit = AuditTrail(session, Actor("tester", "cli"))
    corrected = TELE2_V2.replace("2.0000,0.0000", "2.5000,0.0000")
    (deck,) = await RateService(session, audit).import_deck(
        "tele2", corrected, "t2-fixed.csv", datetime(2026, 10, 16).date())
    assert deck.status == "replaced"
    changed = await CdrStore(session).rerate(at("2026-10-01T00:00+00:00"),
                                             at("2026-11-01T00:00+00:00"))
    # every answered tele2 call from Oct 16 on: Oct 20 and the four calls of Oct 31 (UTC)
    assert changed.inserted == 5
    rows = {r.department: r for r in (await ReportService(session).costs(2026, 10)).rows}
    assert rows["kazan"].call_cost == Decimal("13.00")
    assert rows["omsk"].call_cost == Decimal("5.00")


async def test_one_department_only(company: tuple[AsyncSession, Clock]) -> None:
    session, _clock = company
    await CdrStore(session).import_master_csv(MASTER, "Master.csv", "local")
    report = await ReportService(session).costs(2026, 10, department="omsk")
    assert [r.department for r in report.rows] == ["omsk"]


async def test_each_zone_keeps_its_own_month_in_the_one_query(
        company: tuple[AsyncSession, Clock]) -> None:
    """Oct 31 22:00 UTC is November in Moscow but still October for a department with no
    branch (UTC); the widest range of all zones holds both calls."""
    session, _clock = company
    calls = "".join([
        cdr(31, "legacy", "901", "+78432000000", "2026-10-31 22:00:00", 60, "PJSIP/tele2-31"),
        cdr(32, "kazan", "201", "+78432000000", "2026-10-31 22:00:00", 60, "PJSIP/tele2-32"),
        cdr(33, "omsk", "301", "+73812000000", "2026-10-31 17:00:00", 60, "PJSIP/tele2-33"),
    ]).encode()
    await CdrStore(session).import_master_csv(calls, "extra.csv", "local")
    rows = {r.department: r for r in (await ReportService(session).costs(2026, 10)).rows}
    assert (rows["legacy"].outbound_calls, rows["legacy"].call_cost) == (1, Decimal("2.00"))
    assert rows["kazan"].outbound_calls == 0  # rental only
    assert rows["omsk"].outbound_calls == 1  # 23:00 in Omsk


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_rates_read_as_columns_are_the_rates_read_as_rows(
        company: tuple[AsyncSession, Clock]) -> None:
    session, _clock = company
    rows, carriers = await load_rate_book(session)
    columns, same_carriers, rates = await load_rate_columns(session)
    assert same_carriers == carriers
    by_id = {deck.deck_id: deck for deck in columns.decks()}
    for deck in rows.decks():
        other = by_id.pop(deck.deck_id)
        assert (other.valid_from, other.currency) == (deck.valid_from, deck.currency)
        assert sorted(other.rates, key=str) == sorted(deck.rates, key=str)   # made lazily
        assert other.match("79161234567") == deck.match("79161234567")
    assert not by_id
    from_rows, from_columns = RateTable(rows), RateTable(columns, rates)
    assert [d.deck_id for d in from_rows.decks] == [d.deck_id for d in from_columns.decks]
    numbers = pa.array(["79161234567", "74951234567", "46812345678", "1"])
    for ordinal in range(len(from_rows.decks)):
        assert _priced(from_rows, ordinal, numbers) == _priced(from_columns, ordinal, numbers)
    assert _priced(from_columns, 0, numbers)[0] is not None


def _priced(table: RateTable, deck: int, numbers: pa.Array) -> list[object]:
    """What the table's deck says of each number: the prefix matched and its price."""
    return [None if row < 0 else (
        table.prefix[int(row)].as_py(), int(table.rate_micros[row]),
        int(table.fee_micros[row]), int(table.min_seconds[row]),
        int(table.increment_seconds[row])) for row in table.match(deck, numbers)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_file_read_in_small_blocks_stores_the_same(
        company: tuple[AsyncSession, Clock]) -> None:
    session, _clock = company
    broken = b'"kazan","201"\n' + MASTER.splitlines(keepends=True)[0]  # a repeat, too
    data = MASTER + broken + MASTER[:60]  # ends in a truncated line
    parallel = CdrStore(session, block_bytes=700)
    summary = await parallel.import_master_csv(data, "Master.csv", "local")
    assert (summary.inserted, summary.duplicates, summary.quarantined) == (13, 1, 2)
    assert summary.unrated == 1
    assert sorted(summary.reasons) == ["truncated last line (no line end)",
                                       "wrong column count 2 (expected 16-21)"]
    report = await ReportService(session).costs(2026, 10)
    kazan = next(r for r in report.rows if r.department == "kazan")
    assert kazan.call_cost == Decimal("12.00") and report.unrated == 1
    again = await parallel.import_master_csv(data, "Master.csv", "local")
    assert (again.inserted, again.duplicates) == (0, 14)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_blocks_priced_at_once_count_each_unrated_call_once(
        company: tuple[AsyncSession, Clock]) -> None:
    """Blocks are prepared in parallel threads: the unrated calls of the column-wise rows
    and of the rows left to the row-by-row path (a non-ASCII channel) are each counted
    once, whichever thread priced them."""
    session, _clock = company
    odd = cdr(14, "kazan", "202", "+78432000000", "2026-10-09 10:00:00", 5,
              "PJSIP/beeline-14", channel="PJSIP/Ёлка-14").encode()
    summary = await CdrStore(session, block_bytes=700).import_master_csv(
        MASTER + odd, "Master.csv", "local")
    assert (summary.inserted, summary.unrated) == (14, 2)
    assert (await ReportService(session).costs(2026, 10)).unrated == 2


async def _stored_totals(session: AsyncSession) -> dict[tuple[int, str, str], tuple]:
    rows = (await session.execute(select(CostTotal))).scalars().all()
    return {(t.quarter_hour, t.department, t.currency):
            (t.calls, t.billsec, t.charged_seconds, t.cost, t.unrated)
            for t in rows if (t.calls, t.unrated) != (0, 0)}


async def _totals_of_the_calls(session: AsyncSession) -> dict[tuple[int, str, str], tuple]:
    """The totals worked out afresh from every stored call, as the report once did."""
    sums: dict[tuple[int, str, str], list] = {}
    for c in (await session.execute(select(Cdr))).scalars().all():
        if c.direction != "outbound" or c.billsec <= 0:
            continue
        key = (int(c.start.timestamp()) // 900, c.department, c.currency or "")
        s = sums.setdefault(key, [0, 0, 0, Decimal(0), 0])
        if c.unrated_reason is None:
            s[0], s[1], s[2], s[3] = s[0] + 1, s[1] + c.billsec, s[2] + c.charged_seconds, \
                s[3] + c.cost
        else:
            s[4] += 1
    return {key: tuple(s) for key, s in sums.items()}


async def test_the_running_totals_stay_those_of_the_stored_calls(
        company: tuple[AsyncSession, Clock]) -> None:
    """Every way a call is written (a file COPYed block by block or through the stage,
    a re-import, calls reported live, a re-rate) keeps cost_totals equal to the sums of
    the stored calls."""
    session, _clock = company
    store = CdrStore(session, block_bytes=700)     # blocks COPYed straight and staged
    first_half = b"".join(MASTER.splitlines(keepends=True)[:7])
    await store.import_master_csv(first_half, "Master.csv", "local")
    assert await _stored_totals(session) == await _totals_of_the_calls(session) != {}
    await store.import_master_csv(MASTER, "Master.csv", "local")   # the rest after repeats
    assert await _stored_totals(session) == await _totals_of_the_calls(session)
    live = [CdrReported(tuple(next(csv.reader([line])))) for line in [
        *(cdr(100 + n, "omsk", "301", "+73812000000", f"2026-10-12 09:{n % 60:02d}:00",
              n % 90, "PJSIP/tele2-40") for n in range(PG_COPY_MIN_ROWS)),
        cdr(41, "kazan", "201", "+79990000000", "2026-10-12 09:05:00", 75, "PJSIP/beeline-41"),
        MASTER.decode().splitlines()[0]]]
    classifier = await store.classifier()
    stored = await store.store_events("local", live, classifier)     # stage path on PG
    assert [row is not None for row in stored] == [True] * (len(live) - 1) + [False]
    assert await _stored_totals(session) == await _totals_of_the_calls(session)
    few = [CdrReported(tuple(next(csv.reader([line])))) for line in [
        *(cdr(300 + n, "omsk", "301", "+73812000000", f"2026-10-13 10:{n:02d}:00", 30 + n,
              "PJSIP/tele2-40") for n in range(3)),
        MASTER.decode().splitlines()[1]]]
    stored = await store.store_events("local", few, classifier)    # a few: no stage
    assert [row is not None for row in stored] == [True, True, True, False]
    assert await _stored_totals(session) == await _totals_of_the_calls(session)
    audit = AuditTrail(session, Actor("tester", "cli"))
    await RateService(session, audit).import_deck(
        "tele2", TELE2_V2.replace("2.0000,0.0000", "2.5000,0.0000"), "t2-fixed.csv",
        datetime(2026, 10, 16).date())
    # beeline becomes known: its two unpriced calls get a price (and a currency)
    await CarrierService(session, audit).add("beeline", CarrierSpec(
        host="127.0.0.4", auth="ip", match=("127.0.0.4",)))
    await RateService(session, audit).import_deck("beeline", TELE2_V1, "b.csv",
                                                  datetime(2026, 10, 1).date())
    changed = await store.rerate(at("2026-10-01T00:00+00:00"), at("2026-11-01T00:00+00:00"))
    assert changed.unrated == 0
    assert changed.inserted == 5 + 2     # the calls from Oct 16 on, and beeline's
    assert await _stored_totals(session) == await _totals_of_the_calls(session)
