"""How far each node's Master.csv is caught up, as ``status`` shows it: a read model over
the positions the follower's catch-ups keep."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import CdrFilePosition


@dataclass(frozen=True)
class CatchUpState:
    """How far a node's Master.csv is caught up, as ``status`` shows it."""

    path: str
    caught_up_at: datetime | None   # the last catch-up that worked; None: never
    calls_after: int | None         # lines written after it; None: file not readable here
    behind: bool                    # calls wait and no catch-up ran for too long


def _lines_after(path: Path, offset: int) -> int | None:
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size < offset:
                offset = 0            # rotated
            handle.seek(offset)
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None


async def catch_up_state(session: AsyncSession, node: str, path: str, now: datetime,
                         every: float) -> CatchUpState:
    """Whether the node's calls are caught up: behind when calls wait in its Master.csv
    and no catch-up worked for three times the catch-up interval (``serve`` down, or
    storage failing)."""
    position = await session.scalar(select(CdrFilePosition).where(
        CdrFilePosition.node == node, CdrFilePosition.path == path))
    if position is None:
        return CatchUpState(path, None, None, False)
    waiting = _lines_after(Path(path), position.offset)
    stale = now - position.updated_at > timedelta(seconds=3 * every)
    return CatchUpState(path, position.updated_at, waiting, bool(waiting) and stale)
