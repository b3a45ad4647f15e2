"""Processes that prepare an import's blocks (parse, price, encode) while the event loop
COPYs the blocks before: in threads, the preparing shared one interpreter lock with the
loop and one core with PostgreSQL; in two processes it takes what PostgreSQL leaves of
both cores (measured on a million rows: 12-15 % less time for a file without unique
ids, as fast for the others).

The workers are forked, so they start at once with the modules and the classifiers
already in memory (a deck of tens of thousands of rates is never pickled). A block and
its COPY data pass through rooms of memory shared with the workers, mapped before the
fork: through the pipe, pickled, written and read on both sides, the 600 MB of a million
rows cost about 1.2 s of CPU that PostgreSQL could use. Only the rest of a prepared block
(totals, the rows left to the row-by-row path) crosses the pipe, and so does a block too
big for its room. Only ``pbxctl cdr import``'s process uses them (``serve``'s catch-ups
take the row-by-row path); it forks them before it starts the thread that reads the file.
"""

from __future__ import annotations

import asyncio
import ctypes
import mmap
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from pbxctl.billing.block_import import PreparedBlock, prepare_block
from pbxctl.billing.columnar import ColumnarClassifier
from pbxctl.billing.csv_blocks import BLOCK_BYTES, Block
from pbxctl.billing.records import Classifier
from pbxctl.errors import PbxctlError

WORKERS = 2     # blocks prepared at once: one a core
ROOMS = WORKERS + 1     # and the one being COPYed meanwhile
_PR_SET_PDEATHSIG = 1   # linux/prctl.h
_LINE_SLACK = 64 * 1024     # a block runs on to its last line's end
_classifiers: tuple[ColumnarClassifier, Classifier] | None = None   # a worker's own
_rooms: list[Room] = []                                              # shared with it


class Room:
    """Memory shared by the import's process and its workers: a block goes in, its COPY
    data comes out. Anonymous and shared, mapped before the workers fork: pages are
    taken only when written, and given back when the last process unmaps them."""

    def __init__(self, block_bytes: int, copy_bytes: int) -> None:
        self.block = mmap.mmap(-1, block_bytes)
        self.copy = mmap.mmap(-1, copy_bytes)

    @classmethod
    def for_blocks(cls, block_bytes: int) -> Room:
        """A room for the blocks of a file read ``block_bytes`` at a time. Binary COPY
        data is about the size of the CSV it came from (longer keys and the fields'
        lengths, against the columns it leaves out)."""
        return cls(block_bytes + _LINE_SLACK, 2 * block_bytes + _LINE_SLACK)


class BlockWorkers:
    """``WORKERS`` forked processes, each with the import's classifiers; blocks of about
    ``block_bytes`` go to them through shared rooms. ``release`` each prepared block once
    its COPY data is stored: its room takes the next block."""

    def __init__(self, columnar: ColumnarClassifier, classifier: Classifier,
                 block_bytes: int = BLOCK_BYTES) -> None:
        self._rooms = [Room.for_blocks(block_bytes) for _ in range(ROOMS)]
        self._free = list(range(ROOMS))
        # id of a prepared block -> the block (held, so the id stays its own) and its room
        self._taken: dict[int, tuple[PreparedBlock, int]] = {}
        self._pool = ProcessPoolExecutor(
            WORKERS, mp_context=multiprocessing.get_context("fork"),
            initializer=_start, initargs=(columnar, classifier, os.getpid(), self._rooms))
        # The first task forks every worker, now: before the file's reader starts, so no
        # other thread holds a lock a worker inherits (held, it is never let go there).
        self._pool.submit(os.getpid)

    def prepare(self, block: Block, node: str) -> asyncio.Future[PreparedBlock]:
        """``block`` prepared by a worker (``block_import.prepare_block``); a worker that
        ended (killed, out of memory) fails it with a PbxctlError saying so."""
        return asyncio.ensure_future(self._prepared(block, node))

    async def _prepared(self, block: Block, node: str) -> PreparedBlock:
        loop = asyncio.get_running_loop()
        size = len(block.data)
        # A block that fails keeps its room: a worker may still be writing to it.
        room = self._free.pop() if self._free and size <= len(self._rooms[0].block) else None
        try:
            if room is None:
                return await loop.run_in_executor(self._pool, _prepare, block, node)
            self._rooms[room].block[:size] = block.data
            prepared, copy_bytes = await loop.run_in_executor(
                self._pool, _prepare_in_room, room, size, replace(block, data=b""), node)
        except BrokenProcessPool:
            raise PbxctlError("nothing imported: a process preparing the file ended "
                              "before it was done (killed, or out of memory?)") from None
        if copy_bytes is None:                  # it came through the pipe
            self._free.append(room)
        else:
            prepared.priced_copy = memoryview(self._rooms[room].copy)[:copy_bytes]
            self._taken[id(prepared)] = (prepared, room)
        return prepared

    def release(self, prepared: PreparedBlock) -> None:
        """``prepared``'s COPY data is no longer needed: its room is free again."""
        taken = self._taken.pop(id(prepared), None)
        if taken is not None:
            _, room = taken
            view = prepared.priced_copy
            prepared.priced_copy = b""
            if isinstance(view, memoryview):
                view.release()
            self._free.append(room)

    def close(self) -> None:
        """Stop the workers (after the blocks given to them are done)."""
        self._pool.shutdown(cancel_futures=True)


def _start(columnar: ColumnarClassifier, classifier: Classifier, parent: int,
           rooms: list[Room]) -> None:
    global _classifiers, _rooms
    _end_with(parent)
    _classifiers = (columnar, classifier)
    _rooms = rooms


def _end_with(parent: int) -> None:
    """Have the kernel end this worker when the import's process ends, however it ends
    (killed, its workers would wait for blocks for ever: each holds the pipe's writing
    end too, so it never reads an end of file)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):     # not Linux: the shutdown still ends them
        return
    if os.getppid() != parent:            # it ended before the line above
        os._exit(1)


def _prepare(block: Block, node: str) -> PreparedBlock:
    assert _classifiers is not None, "a worker starts with the classifiers"
    return prepare_block(block, node, *_classifiers)


def _prepare_in_room(index: int, size: int, bare: Block, node: str
                     ) -> tuple[PreparedBlock, int | None]:
    """The block ``bare`` describes, its ``size`` bytes in room ``index``, prepared; its
    COPY data left in the room (with its length) when it fits, else returned with the
    rest (and None)."""
    room = _rooms[index]
    prepared = _prepare(replace(bare, data=room.block[:size]), node)
    copy_bytes = len(prepared.priced_copy)
    if copy_bytes > len(room.copy):
        return prepared, None
    room.copy[:copy_bytes] = prepared.priced_copy
    prepared.priced_copy = b""
    return prepared, copy_bytes
