"""Reading and atomically writing a node's config files."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pbxctl.errors import PbxctlError

SECRET_FILE_MODE = 0o640


def read_files(directory: Path, names: list[str]) -> dict[str, str | None]:
    """Current contents of ``names`` in ``directory``; None for a file that does not exist."""
    contents: dict[str, str | None] = {}
    for name in names:
        try:
            contents[name] = (directory / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            contents[name] = None
    return contents


def stale_since_plan(directory: Path, planned: dict[str, str | None]) -> list[str]:
    """Names among ``planned`` (file name → contents when the plan was made) whose contents
    in ``directory`` have changed since."""
    current = read_files(directory, list(planned))
    return [name for name, old in planned.items() if current[name] != old]


def write_atomically(path: Path, text: str, mode: int = SECRET_FILE_MODE) -> None:
    """Replace ``path`` with ``text`` so a reader sees the old file or the new one, never half."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def restore(directory: Path, previous: dict[str, str | None]) -> None:
    """Put back files as they were: rewrite old contents, delete files that did not exist."""
    for name, text in previous.items():
        path = directory / name
        if text is None:
            path.unlink(missing_ok=True)
        else:
            write_atomically(path, text)
    _fsync_directory(directory)


@contextmanager
def exclusive_lock(directory: Path) -> Iterator[None]:
    """Hold the node directory's apply lock; a second apply fails at once instead of
    interleaving its writes and reloads with ours."""
    with (directory / ".pbxctl-apply.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PbxctlError(f"another apply is running on {directory}; try again when it "
                              "has finished") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_directory(directory: Path) -> None:
    """Fail clearly when the node's config directory is missing or not writable."""
    if not directory.is_dir():
        raise PbxctlError(f"config directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise PbxctlError(f"config directory {directory} is not writable")


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
