"""Storing when things go wrong, on both engines: a row another writer stores at the same
moment is skipped (bulk and live paths), live events wait and are retried while storage
is down, CDRs held too long are handed to the Master.csv catch-up, which retries until
storage works again."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sandboxkit.processes import free_port
from sqlalchemy import event, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.asterisk.ami import AmiEndpoint
from pbxctl.db.faults import StoragePolicy, is_transient
from pbxctl.db.models import Cdr
from pbxctl.db.session import transaction
from pbxctl.follower.catch_up import catch_up
from pbxctl.follower.events import NodeEvents
from pbxctl.follower.node import FollowedNode, FollowPolicy, NodeFollower
from pbxctl.services.cdrs import CdrStore
from tests.billing.test_cost_report import cdr

FAST = StoragePolicy(first_delay=0.01, max_delay=0.05, give_up_after=60.0, stop_grace=0.3)


def line(seq: int) -> bytes:
    return cdr(seq, "kazan", "201", "+78432000000", "2026-10-01 05:00:00", 61,
               "PJSIP/tele2-01").encode()


def ami_cdr(seq: int) -> dict[str, str]:
    """The AMI ``Cdr`` event of the same call as ``line(seq)``."""
    return {"Event": "Cdr", "AccountCode": "kazan", "Source": "201",
            "Destination": "+78432000000", "DestinationContext": "ctx",
            "CallerID": '"X" <201>', "Channel": f"PJSIP/201-000000{seq:02d}",
            "DestinationChannel": "PJSIP/tele2-01", "LastApplication": "Dial",
            "LastData": "x", "StartTime": "2026-10-01 05:00:00",
            "AnswerTime": "2026-10-01 05:00:00", "EndTime": "2026-10-01 05:00:00",
            "Duration": "61", "BillableSeconds": "61", "Disposition": "ANSWERED",
            "AMAFlags": "DOCUMENTATION", "UniqueID": f"1790000000.{seq}", "UserField": "",
            "Sequence": str(seq), "LinkedID": f"1790000000.{seq}"}


async def stored(engine: AsyncEngine) -> int:
    async with transaction(engine) as session:
        return int(await session.scalar(select(func.count()).select_from(Cdr)) or 0)


class Outage:
    """Every statement on the engine fails as a cut connection would, while ``down``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.down = False
        self.failed = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._check)

    def _check(self, *_args: Any) -> None:
        if self.down:
            self.failed += 1
            raise sa_exc.OperationalError("(statement)", {}, ConnectionResetError("cut"))

    @contextmanager
    def for_a_while(self) -> Iterator[None]:
        self.down = True
        try:
            yield
        finally:
            self.down = False


@dataclass
class Observer:
    """Counts what NodeEvents and NodeFollower report."""

    failures: int = 0
    retries: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    catch_ups: list[tuple[bool, int]] = field(default_factory=list)

    def event_received(self, node: str) -> None:
        pass

    def cdr_stored(self, node: str, rated: bool) -> None:
        pass

    def storage_failed(self, node: str) -> None:
        self.failures += 1

    def storage_retried(self, node: str) -> None:
        self.retries += 1

    def writes_dropped(self, node: str, kind: str, count: int) -> None:
        self.dropped[kind] = self.dropped.get(kind, 0) + count

    def link_state(self, node: str, connected: bool) -> None:
        pass

    def reconnected(self, node: str) -> None:
        pass

    def catch_up_ran(self, node: str, ok: bool, inserted: int) -> None:
        self.catch_ups.append((ok, inserted))

    def watch_unstored(self, node: str, oldest: Any) -> None:
        pass


async def until(what: str, check: Callable[[], bool | Awaitable[bool]],
                seconds: float = 20) -> None:
    """Wait until ``check()`` (a plain or an async check) holds."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def has_stored(engine: AsyncEngine, count: int) -> bool:
    return await stored(engine) == count


@pytest.mark.parametrize("block_bytes", [2_000, 10**9], ids=["blocks", "one-block"])
async def test_a_row_another_writer_is_storing_is_skipped_not_an_error(
        engine: AsyncEngine, block_bytes: int) -> None:
    data = b"".join(line(seq) for seq in range(1, 151))
    async with transaction(engine) as live:
        await CdrStore(live).import_master_csv(line(77), "live", "local")   # not committed
        other = asyncio.create_task(_import(engine, data, block_bytes))
        await asyncio.sleep(0.5)          # the import now waits for the live row's fate
    summary = await other
    assert (summary.rows, summary.inserted, summary.duplicates) == (150, 149, 1)
    assert await stored(engine) == 150


async def _import(engine: AsyncEngine, data: bytes, block_bytes: int) -> Any:
    async with transaction(engine) as session:
        return await CdrStore(session, block_bytes=block_bytes
                              ).import_master_csv(data, "catch-up", "local")


async def test_live_cdrs_wait_out_a_storage_outage(engine: AsyncEngine) -> None:
    outage, observer = Outage(engine), Observer()
    events = NodeEvents(engine, "local", observer, policy=FAST)
    stop = asyncio.Event()
    running = asyncio.create_task(events.run(stop))
    with outage.for_a_while():
        for seq in range(1, 6):
            events.handlers()["Cdr"](ami_cdr(seq))
        await until("failures", lambda: observer.failures >= 3)
        assert events.oldest_unstored() is not None
    await until("the CDRs stored", lambda: has_stored(engine, 5))
    stop.set()
    summary = await running
    assert (summary.rows, summary.inserted) == (5, 5)
    assert observer.retries >= 1 and events.oldest_unstored() is None
    assert observer.dropped == {}


async def test_cdrs_held_too_long_go_to_the_catch_up_and_other_writes_wait(
        engine: AsyncEngine) -> None:
    outage, observer = Outage(engine), Observer()
    handed: list[float] = []
    policy = StoragePolicy(first_delay=0.01, max_delay=0.05, give_up_after=0.2)
    events = NodeEvents(engine, "local", observer, policy=policy, hand_over=handed.append)
    stop = asyncio.Event()
    running = asyncio.create_task(events.run(stop))
    with outage.for_a_while():
        for seq in (1, 2, 3):
            events.handlers()["Cdr"](ami_cdr(seq))
        await until("the hand-over", lambda: len(handed) == 3)
    events.handlers()["Cdr"](ami_cdr(4))
    await until("the next CDR stored", lambda: has_stored(engine, 1))
    stop.set()
    await running
    assert observer.dropped == {}          # handed over, not lost


async def test_stopping_during_an_outage_gives_up_after_the_grace(
        engine: AsyncEngine) -> None:
    outage, observer = Outage(engine), Observer()
    events = NodeEvents(engine, "local", observer, policy=FAST)   # no Master.csv
    stop = asyncio.Event()
    running = asyncio.create_task(events.run(stop))
    with outage.for_a_while():
        events.handlers()["Cdr"](ami_cdr(1))
        await until("a failure", lambda: observer.failures >= 1)
        stop.set()
        await asyncio.wait_for(running, timeout=5)
    assert observer.dropped == {"cdr": 1}


async def test_the_catch_up_retries_until_storage_works_again(
        engine: AsyncEngine, tmp_path: Path) -> None:
    master = tmp_path / "Master.csv"
    async with transaction(engine) as session:
        await catch_up(session, "local", str(master))       # marked: read from the start
    master.write_bytes(line(1) + line(2) + line(3))
    outage, observer = Outage(engine), Observer()
    node = FollowedNode("local", AmiEndpoint("127.0.0.1", free_port(), "u", "s"),
                        str(master))                         # AMI never answers
    policy = FollowPolicy(storage=StoragePolicy(first_delay=0.01, max_delay=0.05,
                                                give_up_after=0.2), catch_up_every=3600)
    follower = NodeFollower(engine, node, policy, observer)  # type: ignore[arg-type]
    stop = asyncio.Event()
    running = asyncio.create_task(follower.run(stop))
    with outage.for_a_while():
        follower.events.handlers()["Cdr"](ami_cdr(2))        # live, while storage is down
        await until("failed catch-ups",
                    lambda: sum(1 for ok, _ in observer.catch_ups if not ok) >= 2)
        assert follower.oldest_unstored() is not None
    await until("the catch-up", lambda: has_stored(engine, 3))
    await until("nothing left unstored", lambda: follower.oldest_unstored() is None)
    stop.set()
    await running
    assert (True, 3) in observer.catch_ups


def test_transient_failures_are_told_from_the_others() -> None:
    assert is_transient(asyncpg.AdminShutdownError("terminating connection"))
    assert is_transient(asyncpg.CannotConnectNowError("the database system is starting up"))
    assert is_transient(asyncpg.DeadlockDetectedError("deadlock detected"))
    assert is_transient(sa_exc.OperationalError("x", {}, ConnectionRefusedError(111, "no")))
    assert is_transient(sqlite3.OperationalError("database is locked"))
    assert is_transient(sqlite3.OperationalError("database or disk is full"))
    assert not is_transient(asyncpg.UniqueViolationError("duplicate key"))
    assert not is_transient(sqlite3.OperationalError("no such table: cdrs"))
    assert not is_transient(ValueError("bad event"))


async def test_a_full_queue_refuses_new_writes_and_keeps_the_order(
        engine: AsyncEngine) -> None:
    outage, observer = Outage(engine), Observer()
    policy = StoragePolicy(first_delay=0.01, max_delay=0.05, max_pending=2)
    events = NodeEvents(engine, "local", observer, policy=policy)   # no Master.csv
    stop = asyncio.Event()
    running = asyncio.create_task(events.run(stop))
    with outage.for_a_while():
        for seq in (1, 2, 3, 4):
            events.handlers()["Cdr"](ami_cdr(seq))
        await until("the refusals", lambda: observer.dropped == {"cdr": 2})
    await until("the first two stored", lambda: has_stored(engine, 2))
    stop.set()
    summary = await running
    assert summary.inserted == 2
