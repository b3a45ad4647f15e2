"""A node's recordings and voicemail in a backup: one tar inside the archive
(``nodes/<node>/media.tar``) whose members are ``recordings/<path>`` and
``voicemail/<path>``.

Only regular files are taken, opened without following a link, and only paths of plain
names (no ``..``, no hidden files); putting them back refuses any other member, never
follows a link, never overwrites a file, and creates files 0600 and directories 0700,
as Asterisk's spool keeps them private.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pbxctl import names

KINDS = ("recordings", "voicemail")
FILE_MODE, DIR_MODE = 0o600, 0o700
_PART_RE = re.compile(r"[A-Za-z0-9_+@=,-][A-Za-z0-9_.+@=,-]{0,254}")
MAX_DEPTH = 8


class BadMedia(ValueError):
    """A media member that a backup does not write."""


def voicemail_dir(recordings_dir: Path) -> Path:
    """The node's voicemail of pbxctl's mailboxes, in Asterisk's spool layout beside its
    recordings (``<spool>/monitor`` → ``<spool>/voicemail/<context>``)."""
    return recordings_dir.parent / "voicemail" / names.ASTERISK.voicemail_context


def roots(recordings_dir: Path) -> dict[str, Path]:
    """Where each kind of media lives on a node."""
    return {"recordings": recordings_dir, "voicemail": voicemail_dir(recordings_dir)}


def plain_path(relative: str) -> tuple[str, ...]:
    """The parts of a relative path of plain names, or :class:`BadMedia`."""
    parts = tuple(relative.split("/"))
    if not 0 < len(parts) <= MAX_DEPTH or not all(_PART_RE.fullmatch(p) for p in parts):
        raise BadMedia(f"{relative!r} is not a plain relative path")
    return parts


def files_under(kind: str, root: Path) -> Iterator[tuple[str, Path]]:
    """``(member name, path)`` of each regular file under ``root`` whose path is plain;
    links (to files or directories) are not followed."""
    if root.is_symlink() or not root.is_dir():
        return
    for directory, subdirs, files in os.walk(root, followlinks=False):
        subdirs.sort()
        for name in sorted(files):
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            try:
                plain_path(relative)
            except BadMedia:
                continue
            if not path.is_symlink() and path.is_file():
                yield f"{kind}/{relative}", path


def write_media(out: IO[bytes], media: dict[str, Path]) -> int:
    """Write the media under ``media`` (kind → directory) as a tar to ``out``; returns
    how many files."""
    count = 0
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, root in media.items():
            for member, path in files_under(kind, root):
                try:
                    handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                except OSError:
                    continue            # gone, or became a link, since it was listed
                with os.fdopen(handle, "rb") as source:
                    info = os.fstat(source.fileno())
                    if not stat.S_ISREG(info.st_mode):
                        continue
                    entry = tarfile.TarInfo(member)
                    entry.size, entry.mode, entry.mtime = info.st_size, FILE_MODE, \
                        int(info.st_mtime)
                    tar.addfile(entry, source)
                    count += 1
    return count


def put_media(stream: IO[bytes], media: dict[str, Path]) -> tuple[int, int]:
    """Put the files of the media tar in ``stream`` back under ``media`` (kind →
    directory); a file already there is left as it is. Returns (written, kept)."""
    written = kept = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            kind, _, relative = member.name.partition("/")
            if not member.isfile() or kind not in media:
                raise BadMedia(f"media member {member.name!r} is not one a backup writes")
            parts = plain_path(relative)
            directory = _private_dirs(media[kind], parts[:-1])
            source = tar.extractfile(member)
            assert source is not None
            try:
                handle = os.open(directory / parts[-1],
                                 os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                 FILE_MODE)
            except FileExistsError:
                kept += 1
                continue
            with os.fdopen(handle, "wb") as target:
                while block := source.read(1024 * 1024):
                    target.write(block)
            os.utime(directory / parts[-1], (member.mtime, member.mtime),
                     follow_symlinks=False)
            written += 1
    return written, kept


def _private_dirs(root: Path, parts: tuple[str, ...]) -> Path:
    """``root/parts...``, each directory made 0700 when missing; a link is refused."""
    path = root
    for part in ("", *parts):
        path = path / part if part else path
        if path.is_symlink():
            raise BadMedia(f"{path} is a symbolic link: media are not put back through it")
        path.mkdir(mode=DIR_MODE, parents=not part, exist_ok=True)
    return path
