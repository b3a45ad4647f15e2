"""Which scheduled backups to keep. Pure.

``serve`` names the archives it writes ``pbxctl-scheduled-<UTC time>.tar[.enc]``: only a
file of that name is one of its own (anything else in the directory, a manual backup
included, is never touched), and a file of that name is complete (archives are written
under a temporary name and renamed when whole), so every one is a good backup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

PREFIX = "pbxctl-scheduled-"
_NAME_RE = re.compile(re.escape(PREFIX) + r"(\d{8}T\d{6}Z)\.tar(\.enc)?")


def scheduled_name(now: datetime, encrypted: bool) -> str:
    """The name of the archive written at ``now``."""
    return f"{PREFIX}{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.tar{'.enc' if encrypted else ''}"


def written_at(name: str) -> datetime | None:
    """When a scheduled backup called ``name`` was written (None: not one of ours)."""
    found = _NAME_RE.fullmatch(name)
    if found is None:
        return None
    return datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def to_delete(names: Iterable[str], keep: int) -> list[str]:
    """The scheduled backups beyond the newest ``keep`` (at least one is always kept)."""
    ours = sorted((when, name) for name in names if (when := written_at(name)) is not None)
    return [name for _, name in ours[:-max(keep, 1)]]
