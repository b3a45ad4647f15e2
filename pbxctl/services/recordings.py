"""Recorded calls on a node: listed and fetched by id; names carry no caller-ID text."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pbxctl import names
from pbxctl.errors import NotFoundError, PbxctlError, ValidationError

# <prefix><UTC yyyymmdd-HHMMSS>-<called number>-<uniqueid>.wav, as the dialplan names them.
_NAME_TAIL = r"(?P<stamp>[0-9]{8}-[0-9]{6})-(?P<number>\+?[0-9]{0,15})-(?P<uniqueid>[0-9]+\.[0-9]+)"


def _name_re() -> re.Pattern[str]:
    return re.compile(re.escape(names.ASTERISK.recording_prefix) + _NAME_TAIL)


@dataclass(frozen=True)
class Recording:
    """One recorded call."""

    id: str
    started: datetime
    number: str
    uniqueid: str
    size: int


def list_recordings(directory: Path, since: datetime | None = None,
                    number: str | None = None) -> list[Recording]:
    """Recordings in ``directory``, oldest first, optionally from ``since`` or of a number."""
    if not directory.is_dir():
        raise PbxctlError(f"recordings directory {directory} does not exist")
    found = []
    name_re = _name_re()
    for path in directory.glob(f"{names.ASTERISK.recording_prefix}*.wav"):
        match = name_re.fullmatch(path.stem)
        if match is None:
            continue
        started = datetime.strptime(match["stamp"], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
        if since is not None and started < since:
            continue
        if number is not None and match["number"] != number:
            continue
        found.append(Recording(path.stem, started, match["number"], match["uniqueid"],
                               path.stat().st_size))
    return sorted(found, key=lambda r: (r.started, r.id))


def copy_recording(directory: Path, recording_id: str, destination: Path) -> Path:
    """Copy one recording to ``destination``; the id must be one pbxctl named."""
    if not _name_re().fullmatch(recording_id):
        raise ValidationError("ID", f"{recording_id!r} is not a recording id")
    source = directory / f"{recording_id}.wav"
    if not source.is_file():
        raise NotFoundError(f"no recording {recording_id}")
    shutil.copyfile(source, destination)
    return destination
