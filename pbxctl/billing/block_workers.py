"""Processes that prepare an import's blocks (parse, price, encode) while the event loop
COPYs the blocks before: in threads, the preparing shared one interpreter lock with the
loop and one core with PostgreSQL; in two processes it takes what PostgreSQL leaves of
both cores (measured on a million rows: 12-15 % less time for a file without unique
ids, as fast for the others).

The workers are forked, so they start at once with the modules and the classifiers
already in memory (a deck of tens of thousands of rates is never pickled); a block and
what it became cross a pipe. Only ``pbxctl cdr import``'s process uses them (``serve``'s
catch-ups take the row-by-row path); when it forks, its only other thread, the one that
reads the file, is idle.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from pbxctl.billing.block_import import PreparedBlock, prepare_block
from pbxctl.billing.columnar import ColumnarClassifier
from pbxctl.billing.csv_blocks import Block
from pbxctl.billing.records import Classifier
from pbxctl.errors import PbxctlError

WORKERS = 2     # blocks prepared at once: one a core
_PR_SET_PDEATHSIG = 1   # linux/prctl.h
_classifiers: tuple[ColumnarClassifier, Classifier] | None = None   # a worker's own


class BlockWorkers:
    """``WORKERS`` forked processes, each with the import's classifiers."""

    def __init__(self, columnar: ColumnarClassifier, classifier: Classifier) -> None:
        self._pool = ProcessPoolExecutor(
            WORKERS, mp_context=multiprocessing.get_context("fork"),
            initializer=_start, initargs=(columnar, classifier, os.getpid()))

    def prepare(self, block: Block, node: str) -> asyncio.Future[PreparedBlock]:
        """``block`` prepared by a worker (``block_import.prepare_block``); a worker that
        ended (killed, out of memory) fails it with a PbxctlError saying so."""
        return asyncio.ensure_future(self._prepared(block, node))

    async def _prepared(self, block: Block, node: str) -> PreparedBlock:
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, _prepare, block, node)
        except BrokenProcessPool:
            raise PbxctlError("nothing imported: a process preparing the file ended "
                              "before it was done (killed, or out of memory?)") from None

    def close(self) -> None:
        """Stop the workers (after the blocks given to them are done)."""
        self._pool.shutdown(cancel_futures=True)


def _start(columnar: ColumnarClassifier, classifier: Classifier, parent: int) -> None:
    global _classifiers
    _end_with(parent)
    _classifiers = (columnar, classifier)


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
