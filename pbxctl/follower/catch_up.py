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


def _complete_lines(path: Path, offset: int, up_to: int | None) -> tuple[bytes, int]:
    """The whole lines after ``offset`` and before ``up_to`` (a line still being written
    waits for next time), and the offset after them. A file shorter than ``offset`` was
    rotated: start over, and read it all."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < offset:
            offset, up_to = 0, None
        end = size if up_to is None else max(offset, min(size, up_to))
        handle.seek(offset)
        data = handle.read(end - offset)
    cut = data.rfind(b"\n") + 1
    return data[:cut], offset + cut


async def catch_up(session: AsyncSession, node: str, path: str,
                   up_to: int | None = None) -> CatchUp | None:
    """Import what the node's Master.csv gained since the last catch-up (up to byte
    ``up_to`` when given); None when the file is not there. The first call only marks
    where the file ends now (its start, when it does not exist yet).

    The position moves in the same transaction as the rows it covers, so it never passes
    a call that is not stored. Calls stored here queue ``cdr.rated`` like live ones."""
    file = Path(path)
    position = await session.scalar(select(CdrFilePosition).where(
        CdrFilePosition.node == node, CdrFilePosition.path == path))
    if position is None:    # a file that does not exist yet will be read from its start
        size = file.stat().st_size if file.is_file() else 0
        session.add(CdrFilePosition(node=node, path=path, offset=size))
        return CatchUp(path, size, size, None)
    if not file.is_file():
        return None
    data, end = _complete_lines(file, position.offset, up_to)
    start = end - len(data)
    summary = await CdrStore(session).import_master_csv(
        data, f"{path} (from byte {start})", node, announce=True) if data else ImportSummary()
    position.offset, position.updated_at = end, utcnow()
    return CatchUp(path, start, end, summary)
