"""Secrets at rest: the values pbxctl must read back (AMI and carrier secrets, webhook
signing secrets, phones' HA1 digests) are stored Fernet-encrypted with a key kept outside
the database, and come out of the database plain, so nothing above ``db`` sees a token.

A stored value reads ``pbxctl:v1:<key id>:<Fernet token>``; anything else is a clear-text
value written before encryption (read as it is, encrypted by ``pbxctl init`` or
``pbxctl secrets rotate-key``). The key id is the start of the key's SHA-256, so a status
can tell which key sealed a value without decrypting it.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeDecorator

from pbxctl.db.key_files import KeySource
from pbxctl.errors import PbxctlError

PREFIX = "pbxctl:v1:"
STORED_LENGTH = 512   # a 128-character secret seals to 284 characters


def key_id(key: str) -> str:
    """A short public name of a key: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def sealed_key_id(stored: str) -> str | None:
    """The id of the key that sealed ``stored``; None for a clear-text value."""
    if not stored.startswith(PREFIX):
        return None
    return stored[len(PREFIX):].split(":", 1)[0]


@dataclass(frozen=True)
class KeyRing:
    """Keys that open sealed values, the first one sealing new ones."""

    keys: tuple[str, ...]
    where: str                                   # the setting the keys came from
    _fernets: dict[str, Fernet] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            fernets = {key_id(key): Fernet(key.encode()) for key in self.keys}
        except ValueError:
            raise PbxctlError(f"{self.where} does not hold a valid key (32 url-safe "
                              "base64-encoded bytes, as 'pbxctl init' writes)") from None
        if not fernets:
            raise PbxctlError(f"{self.where} holds no key")
        object.__setattr__(self, "_fernets", fernets)

    @property
    def current(self) -> str:
        """The id of the key that seals new values."""
        return key_id(self.keys[0])

    def seal(self, plain: str) -> str:
        """``plain`` encrypted under the current key, with the version prefix."""
        token = self._fernets[self.current].encrypt(plain.encode()).decode()
        return f"{PREFIX}{self.current}:{token}"

    def open(self, stored: str) -> str:
        """The plain value of ``stored`` (a clear-text legacy value is returned as is)."""
        kid = sealed_key_id(stored)
        if kid is None:
            return stored
        fernet = self._fernets.get(kid)
        if fernet is None:
            raise PbxctlError(f"a secret in the database was sealed with key {kid}, which "
                              f"{self.where} does not hold: wrong key")
        try:
            return fernet.decrypt(stored.split(":", 3)[3].encode()).decode()
        except (InvalidToken, IndexError):
            raise PbxctlError(f"a secret sealed with key {kid} does not open with "
                              f"{self.where}: wrong key or damaged value") from None


class Keys:
    """The key ring of one engine, read from its source the first time a secret is
    sealed or opened (commands that touch no secret need no key)."""

    def __init__(self, source: KeySource) -> None:
        self.source = source
        self._ring: KeyRing | None = None

    def ring(self) -> KeyRing:
        """The keys, read (and checked) once."""
        if self._ring is None:
            self._ring = KeyRing(self.source.read(), self.source.where)
        return self._ring

    def replace(self, ring: KeyRing) -> None:
        """Use ``ring`` from now on (key rotation)."""
        self._ring = ring


_KEYS: weakref.WeakKeyDictionary[Dialect, Keys] = weakref.WeakKeyDictionary()


def attach_keys(engine: AsyncEngine, source: KeySource) -> Keys:
    """Make ``engine`` seal and open secrets with the keys of ``source``."""
    keys = Keys(source)
    _KEYS[engine.sync_engine.dialect] = keys
    return keys


def keys_of(engine: AsyncEngine) -> Keys:
    """The keys attached to ``engine`` by :func:`attach_keys`."""
    return _KEYS[engine.sync_engine.dialect]


class Sealed(TypeDecorator[str]):
    """A secret column: sealed on the way in, opened on the way out."""

    impl = String(STORED_LENGTH)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return _KEYS[dialect].ring().seal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return _KEYS[dialect].ring().open(str(value))
