"""Where the secrets key lives: the ``PBXCTL_SECRETS_KEY`` environment variable, or a key
file (setting ``secrets_key_file``) that only its owner may read. A file holds one key a
line, the first sealing new values; during a rotation it briefly holds the new and the old.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from pbxctl.errors import PbxctlError

KEY_FILE_MODE = 0o600
KEY_ENV = "PBXCTL_SECRETS_KEY"


def new_key() -> str:
    """A fresh random Fernet key."""
    return Fernet.generate_key().decode()


@dataclass(frozen=True)
class KeySource:
    """The keys come from ``key`` (the environment variable's value: keys separated by
    commas) when it is set, else from ``file``."""

    key: str | None
    file: Path

    @property
    def where(self) -> str:
        """The setting to name in messages."""
        if self.key is not None:
            return f"the {KEY_ENV} environment variable"
        return f"the key file {self.file} (setting secrets_key_file)"

    def read(self) -> tuple[str, ...]:
        """The keys, newest first; a clear error when they cannot be used."""
        if self.key is not None:
            return tuple(part.strip() for part in self.key.split(",") if part.strip())
        try:
            mode = self.file.stat().st_mode
        except FileNotFoundError:
            raise PbxctlError(f"{self.where} does not exist: run 'pbxctl init' to create "
                              f"it, or set {KEY_ENV}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PbxctlError(f"{self.where} may be read by other users; refusing to use "
                              f"it: chmod 600 {self.file}")
        lines = self.file.read_text(encoding="ascii").split()
        return tuple(line for line in lines if line)

    def create(self) -> bool:
        """Write a new key file when the keys come from a file that does not exist yet;
        True when one was written."""
        if self.key is not None or self.file.exists():
            return False
        self.write((new_key(),))
        return True

    def write(self, keys: tuple[str, ...]) -> None:
        """Replace the key file atomically with ``keys`` (mode 0600 from the start)."""
        if self.key is not None:
            raise PbxctlError(f"the keys come from {KEY_ENV}, which pbxctl cannot change: "
                              "set secrets_key_file instead to rotate keys", "secrets_key")
        self.file.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=self.file.parent,
                                             prefix=f".{self.file.name}.", suffix=".tmp")
        try:
            os.fchmod(handle, KEY_FILE_MODE)
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write("".join(f"{key}\n" for key in keys))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp_name, self.file)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise

