"""The import's worker processes on PostgreSQL: a block they cannot prepare fails the
import as a whole (nothing stored), and no worker outlives the import, even killed."""

from __future__ import annotations

import asyncio
import multiprocessing
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.billing import block_workers
from pbxctl.billing.block_import import PreparedBlock, prepare_block
from pbxctl.billing.block_workers import BlockWorkers
from pbxctl.billing.columnar import ColumnarClassifier
from pbxctl.billing.csv_blocks import Block
from pbxctl.billing.records import Classifier
from pbxctl.db.session import transaction
from pbxctl.services.cdrs import CdrStore, ImportSummary
from tests.db.test_storage_faults import line, stored

FILE = b"".join(line(seq) for seq in range(1, 201))
BLOCK_BYTES = 2_000     # about a dozen blocks


# The worker processes prepare blocks on PostgreSQL only (elsewhere rows go one by one).
on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def _import(engine: AsyncEngine) -> ImportSummary:
    async with transaction(engine) as session:
        return await CdrStore(session, block_bytes=BLOCK_BYTES).import_master_csv(
            FILE, "Master.csv", "local")


def _fails_past_line_30(block: Block, node: str, columnar: ColumnarClassifier,
                        classifier: Classifier) -> PreparedBlock:
    if block.first_line > 30:     # the first blocks are prepared, a later one fails
        raise ValueError("this block cannot be prepared")
    return prepare_block(block, node, columnar, classifier)


@on_postgresql
async def test_all_blocks_are_prepared_by_the_workers(engine: AsyncEngine) -> None:
    summary = await _import(engine)
    assert (summary.rows, summary.inserted) == (200, 200)
    assert await stored(engine) == 200
    assert multiprocessing.active_children() == []


def test_the_workers_are_forked_before_the_file_is_read() -> None:
    """Forked while the thread that reads the file held a lock (as Python 3.11's
    ``cached_property`` takes one), a worker would wait for it for ever."""
    workers = BlockWorkers(None, None, block_bytes=100)      # type: ignore[arg-type]
    try:
        assert len(multiprocessing.active_children()) == block_workers.WORKERS
    finally:
        workers.close()


def _shouted(block: Block, node: str, columnar: ColumnarClassifier,
             classifier: Classifier) -> PreparedBlock:
    return PreparedBlock(len(block.data), priced_copy=block.data.upper(), priced_rows=1)


async def test_blocks_and_their_copy_data_pass_through_rooms_of_their_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(block_workers, "prepare_block", _shouted)   # forked
    workers = BlockWorkers(None, None, block_bytes=100)      # type: ignore[arg-type]
    try:
        for round_ in range(4):     # a room given back takes the next block
            given = [Block.of(b"round %d, block %d\n" % (round_, n), 1, last=False)
                     for n in range(block_workers.ROOMS)]
            prepared = await asyncio.gather(*(workers.prepare(b, "local") for b in given))
            for block, ready in zip(given, prepared, strict=True):
                assert isinstance(ready.priced_copy, memoryview)    # not through the pipe
                assert bytes(ready.priced_copy) == block.data.upper()
                workers.release(ready)
                assert ready.priced_copy == b""
    finally:
        workers.close()


@on_postgresql
@pytest.mark.parametrize("room", [
    lambda block_bytes: block_workers.Room(100, 4 * block_bytes),     # no block fits in
    lambda block_bytes: block_workers.Room(2 * block_bytes, 100),     # no COPY data fits
], ids=["block-too-big", "copy-data-too-big"])
async def test_what_does_not_fit_in_the_shared_rooms_crosses_the_pipe(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
        room: Callable[[int], block_workers.Room]) -> None:
    monkeypatch.setattr(block_workers.Room, "for_blocks", room)     # before the fork
    summary = await _import(engine)
    assert (summary.rows, summary.inserted) == (200, 200)
    assert await stored(engine) == 200


@on_postgresql
async def test_a_second_import_through_the_rooms_finds_every_row_stored(
        engine: AsyncEngine) -> None:
    await _import(engine)
    again = await _import(engine)         # the stage path, its COPY data in a room
    assert (again.rows, again.inserted, again.duplicates) == (200, 0, 200)
    assert await stored(engine) == 200


@on_postgresql
async def test_a_block_the_workers_cannot_prepare_stores_nothing(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(block_workers, "prepare_block", _fails_past_line_30)  # forked
    with pytest.raises(ValueError, match="cannot be prepared"):
        await _import(engine)
    assert await stored(engine) == 0
    assert multiprocessing.active_children() == []


# A worker that dies (as by the OOM killer), in a process of its own: Python 3.11 formats
# the broken pool's tracebacks in two threads at once, which leaves its ast module
# unusable for the rest of the process (pytest's own reports included).
_A_WORKER_DIES = """
import asyncio, os, sys
from pbxctl.billing import block_workers
from pbxctl.billing.block_import import prepare_block
from pbxctl.db.session import make_engine, transaction
from pbxctl.services.cdrs import CdrStore

def dies_past_line_30(block, *args):
    if block.first_line > 30:
        os._exit(9)
    return prepare_block(block, *args)

async def main(url, data):
    block_workers.prepare_block = dies_past_line_30
    engine = make_engine(url)
    try:
        async with transaction(engine) as session:
            await CdrStore(session, block_bytes=2_000).import_master_csv(data, "x", "local")
    except Exception as exc:
        print(type(exc).__name__, exc)
    finally:
        await engine.dispose()

asyncio.run(main(sys.argv[1], sys.stdin.buffer.read()))
"""


@on_postgresql
async def test_a_worker_that_dies_fails_the_import_with_nothing_stored(
        engine: AsyncEngine, database_url: str) -> None:
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", _A_WORKER_DIES, database_url], input=FILE,
        capture_output=True, timeout=120)
    assert done.stdout.decode().strip() == (
        "PbxctlError nothing imported: a process preparing the file ended before it was "
        "done (killed, or out of memory?)"), done.stderr.decode()[-2000:]
    assert await stored(engine) == 0


# A process that starts the workers (forking them) and waits; killed, its workers must go.
_STARTS_WORKERS = """
import asyncio, multiprocessing, sys, time
from pbxctl.billing.block_workers import BlockWorkers
from pbxctl.billing.csv_blocks import Block

async def main():
    workers = BlockWorkers(None, None)
    try:
        await workers.prepare(Block.of(b"", 1, last=True), "local")
    except Exception:
        pass                                # no classifiers: the block fails, the workers stay
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
    time.sleep(60)

asyncio.run(main())
"""


def test_the_workers_end_when_the_import_is_killed() -> None:
    with subprocess.Popen([sys.executable, "-c", _STARTS_WORKERS], stdout=subprocess.PIPE,
                          text=True) as importing:
        assert importing.stdout is not None
        workers = [int(pid) for pid in importing.stdout.readline().split()]
        assert len(workers) == block_workers.WORKERS
        importing.kill()                    # SIGKILL: no shutdown, no cleanup
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers {workers} outlived the import"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, ended but not reaped by init yet, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
