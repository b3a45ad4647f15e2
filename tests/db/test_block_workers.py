"""The import's worker processes on PostgreSQL: a block they cannot prepare fails the
import as a whole (nothing stored), and no worker outlives the import."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.billing import block_workers
from pbxctl.billing.block_import import PreparedBlock, prepare_block
from pbxctl.billing.columnar import ColumnarClassifier
from pbxctl.billing.csv_blocks import Block
from pbxctl.billing.records import Classifier
from pbxctl.db.session import transaction
from pbxctl.services.cdrs import CdrStore, ImportSummary
from tests.db.test_storage_faults import line, stored

FILE = b"".join(line(seq) for seq in range(1, 201))
BLOCK_BYTES = 2_000     # about a dozen blocks


# The worker processes prepare blocks on PostgreSQL only (elsewhere rows go one by one).
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def _import(engine: AsyncEngine) -> ImportSummary:
    async with transaction(engine) as session:
        return await CdrStore(session, block_bytes=BLOCK_BYTES).import_master_csv(
            FILE, "Master.csv", "local")


def _fails_after_the_third(block: Block, node: str, columnar: ColumnarClassifier,
                           classifier: Classifier) -> PreparedBlock:
    if block.first_line > 3 * 10:
        raise ValueError("this block cannot be prepared")
    return prepare_block(block, node, columnar, classifier)


def _dies_after_the_third(block: Block, node: str, columnar: ColumnarClassifier,
                          classifier: Classifier) -> PreparedBlock:
    if block.first_line > 3 * 10:
        os._exit(9)     # as the kernel's OOM killer would end it
    return prepare_block(block, node, columnar, classifier)


async def test_all_blocks_are_prepared_by_the_workers(engine: AsyncEngine) -> None:
    summary = await _import(engine)
    assert (summary.rows, summary.inserted) == (200, 200)
    assert await stored(engine) == 200
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("failing", [_fails_after_the_third, _dies_after_the_third],
                         ids=["raises", "dies"])
async def test_a_block_the_workers_cannot_prepare_stores_nothing(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
        failing: Callable[..., PreparedBlock]) -> None:
    monkeypatch.setattr(block_workers, "prepare_block", failing)   # the workers fork it
    with pytest.raises((ValueError, BrokenProcessPool)):
        await _import(engine)
    assert await stored(engine) == 0
    assert multiprocessing.active_children() == []
