"""Recordings and voicemail in a backup: regular files under plain names only, links
never followed either way, nothing overwritten, files 0600 and directories 0700."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from pbxctl.backup.media import BadMedia, put_media, roots, voicemail_dir, write_media


def _spool(base: Path) -> Path:
    recordings = base / "spool" / "monitor"
    (recordings / "2026").mkdir(parents=True)
    (recordings / "2026" / "pbxctl-1.wav").write_bytes(b"RIFF one")
    (recordings / ".hidden").write_bytes(b"not taken")
    secret = base / "secret.txt"
    secret.write_text("outside the spool")
    (recordings / "link.wav").symlink_to(secret)
    (recordings / "linked-dir").symlink_to(base)
    inbox = voicemail_dir(recordings) / "201" / "INBOX"
    inbox.mkdir(parents=True)
    (inbox / "msg0000.txt").write_text("[message]\ncallerid=+46701234567\n")
    return recordings


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return sorted(tar.getnames())


def test_only_regular_files_under_plain_names_are_taken(tmp_path: Path) -> None:
    out = io.BytesIO()
    assert write_media(out, roots(_spool(tmp_path))) == 2
    assert _names(out.getvalue()) == ["recordings/2026/pbxctl-1.wav",
                                      "voicemail/201/INBOX/msg0000.txt"]


def test_media_go_back_private_and_nothing_is_overwritten(tmp_path: Path) -> None:
    out = io.BytesIO()
    write_media(out, roots(_spool(tmp_path / "old")))
    recordings = tmp_path / "new" / "spool" / "monitor"
    (recordings / "2026").mkdir(parents=True)
    (recordings / "2026" / "pbxctl-1.wav").write_bytes(b"newer")
    out.seek(0)
    assert put_media(out, roots(recordings)) == (1, 1)
    assert (recordings / "2026" / "pbxctl-1.wav").read_bytes() == b"newer"
    message = voicemail_dir(recordings) / "201" / "INBOX" / "msg0000.txt"
    assert message.read_text().startswith("[message]")
    assert stat.S_IMODE(message.stat().st_mode) == 0o600
    assert stat.S_IMODE(message.parent.stat().st_mode) == 0o700


def _tar(name: str, kind: bytes = tarfile.REGTYPE) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.type, info.size = kind, 0 if kind != tarfile.REGTYPE else 1
        if kind == tarfile.SYMTYPE:
            info.linkname = "/etc/passwd"
        tar.addfile(info, io.BytesIO(b"x") if kind == tarfile.REGTYPE else None)
    out.seek(0)
    return out


@pytest.mark.parametrize(("name", "kind"), [
    ("recordings/../../etc/cron.d/x", tarfile.REGTYPE),
    ("/recordings/a.wav", tarfile.REGTYPE),
    ("config/pjsip.conf", tarfile.REGTYPE),
    ("recordings/a.wav", tarfile.SYMTYPE),
    ("recordings/.profile", tarfile.REGTYPE),
])
def test_members_a_backup_does_not_write_are_refused(tmp_path: Path, name: str,
                                                     kind: bytes) -> None:
    with pytest.raises(BadMedia):
        put_media(_tar(name, kind), roots(tmp_path / "monitor"))
    assert not (tmp_path / "etc").exists()


def test_a_linked_directory_is_not_gone_through(tmp_path: Path) -> None:
    recordings = tmp_path / "monitor"
    recordings.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (recordings / "2026").symlink_to(elsewhere)
    with pytest.raises(BadMedia):
        put_media(_tar("recordings/2026/a.wav"), roots(recordings))
    assert list(elsewhere.iterdir()) == []
