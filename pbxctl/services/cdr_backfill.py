"""Catching up from a node's Master.csv after its AMI link was down.

Each node's file is read from where the last catch-up stopped; the rows Asterisk wrote
meanwhile are imported (those that also came live are recognised and skipped). The first
time a node is followed, its file is only marked: older calls are a backfill for
``pbxctl cdr import``, not a surprise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import CdrFilePosition, utcnow
from pbxctl.services.cdrs import CdrStore, ImportSummary


@dataclass(frozen=True)
class CatchUp:
    """What one catch-up did."""

    path: str
    from_offset: int
    to_offset: int
    summary: ImportSummary | None  # None when the file was only marked


def _complete_lines(path: Path, offset: int) -> tuple[bytes, int]:
    """The whole lines after ``offset`` (a line still being written waits for next time),
    and the offset after them. A file shorter than ``offset`` was rotated: start over."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < offset:
            offset = 0
        handle.seek(offset)
        data = handle.read(size - offset)
    end = data.rfind(b"\n") + 1
    return data[:end], offset + end


async def catch_up(session: AsyncSession, node: str, path: str) -> CatchUp | None:
    """Import what the node's Master.csv gained since the last catch-up; None when the
    file is not there (yet)."""
    file = Path(path)
    if not file.is_file():
        return None
    position = await session.scalar(select(CdrFilePosition).where(
        CdrFilePosition.node == node, CdrFilePosition.path == path))
    if position is None:
        size = file.stat().st_size
        session.add(CdrFilePosition(node=node, path=path, offset=size))
        return CatchUp(path, size, size, None)
    data, end = _complete_lines(file, position.offset)
    start = end - len(data)
    summary = await CdrStore(session).import_master_csv(
        data, f"{path} (from byte {start})", node) if data else ImportSummary()
    position.offset, position.updated_at = end, utcnow()
    return CatchUp(path, start, end, summary)
