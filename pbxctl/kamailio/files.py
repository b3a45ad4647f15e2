"""Writing an edge's files so that Kamailio notices every change.

db_text re-reads a table only when its file's modification time has grown by a whole
second, so each write moves the time past the replaced file's: two applies within one
second, or a roll-back right after an apply, are reloaded too.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from pbxctl.asterisk.files import write_atomically

DIR_MODE = 0o750


def write_file(directory: Path, relative: str, text: str) -> None:
    """Replace ``directory/relative`` atomically (0640, its subdirectory made 0750), with a
    modification time a second past the file it replaces."""
    path = directory / relative
    path.parent.mkdir(mode=DIR_MODE, exist_ok=True)
    try:
        replaced = path.stat().st_mtime
    except FileNotFoundError:
        replaced = None
    write_atomically(path, text)
    if replaced is not None:
        moment = max(time.time(), math.floor(replaced) + 1)
        os.utime(path, (moment, moment))


def put_back(directory: Path, previous: dict[str, str | None]) -> None:
    """Restore files as they were: old contents rewritten, files that did not exist gone."""
    for relative, text in previous.items():
        if text is None:
            (directory / relative).unlink(missing_ok=True)
        else:
            write_file(directory, relative, text)
