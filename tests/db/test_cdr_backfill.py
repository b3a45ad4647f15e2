"""Catching up from a node's Master.csv: first only marked, then read from where it
stopped, whole lines only, starting over after a rotation; rows seen live count once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import Cdr
from pbxctl.follower.catch_up import catch_up
from tests.billing.test_cost_report import cdr


def line(seq: int) -> bytes:
    return cdr(seq, "kazan", "201", "+78432000000", "2026-10-01 05:00:00", 61,
               "PJSIP/tele2-01").encode()


async def stored(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Cdr)) or 0)


async def test_a_file_that_appears_later_is_read_from_its_start(session: AsyncSession,
                                                                tmp_path: Path) -> None:
    master = tmp_path / "Master.csv"
    marked = await catch_up(session, "local", str(master))             # no calls yet
    assert marked is not None and (marked.to_offset, marked.summary) == (0, None)
    assert await catch_up(session, "local", str(master)) is None       # still no file
    master.write_bytes(line(1) + line(2))                              # the first calls
    first = await catch_up(session, "local", str(master))
    assert first is not None and first.summary is not None
    assert first.summary.inserted == 2 and await stored(session) == 2


async def test_catching_up_reads_only_what_the_file_gained(session: AsyncSession,
                                                           tmp_path: Path) -> None:
    master = tmp_path / "Master.csv"
    master.write_bytes(line(1) + line(2))
    first = await catch_up(session, "local", str(master))
    assert first is not None and first.summary is None                 # only marked
    assert first.to_offset == master.stat().st_size and await stored(session) == 0

    half = line(4)[:20]
    master.write_bytes(line(1) + line(2) + line(3) + half)             # a line being written
    second = await catch_up(session, "local", str(master))
    assert second is not None and second.summary is not None
    assert (second.summary.rows, second.summary.inserted) == (1, 1)
    assert await stored(session) == 1

    master.write_bytes(line(1) + line(2) + line(3) + line(4))          # it was finished
    third = await catch_up(session, "local", str(master))
    assert third is not None and third.summary is not None
    assert (third.summary.rows, third.summary.inserted) == (1, 1)
    assert await stored(session) == 2

    master.write_bytes(line(5))                                        # rotated
    rotated = await catch_up(session, "local", str(master))
    assert rotated is not None and rotated.from_offset == 0
    assert await stored(session) == 3

    master.write_bytes(line(5) + line(3))           # a row already stored comes again
    again = await catch_up(session, "local", str(master))
    assert again is not None and again.summary is not None
    assert (again.summary.inserted, again.summary.duplicates) == (0, 1)
    assert await stored(session) == 3
