"""Passphrase encryption of a backup archive, streamed so that an archive of any size
needs a chunk of memory, not the archive.

The file is a header, then chunks. The header holds the key derivation's parameters and
salt (Scrypt), a random nonce prefix and a 16-byte key check (an HMAC of the header with
the second half of the derived key), so a wrong passphrase is told apart from a damaged
file. Each chunk is at most :data:`CHUNK` bytes of the archive sealed with AES-256-GCM
under the first half of the derived key; its nonce is the prefix, the chunk's index and
a flag set on the last chunk only, and the header is the associated data of every chunk
(the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár). Chunks dropped,
repeated, reordered or changed, a file cut short (even at a chunk's end) or a changed
header all fail authentication.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from pbxctl.errors import PbxctlError

MAGIC = b"pbxctlE1"
CHUNK = 64 * 1024
TAG = 16
# Scrypt: 2**17 x 8 x 128 bytes = 128 MiB and a fraction of a second to derive.
LOG2_N, R, P = 17, 8, 1
_FIXED = struct.Struct(">8sBBBI16s7s")     # magic, log2 n, r, p, chunk size, salt, prefix
HEADER_SIZE = _FIXED.size + 16              # and the key check
_MAX_CHUNKS = 2**32


class DamagedArchive(PbxctlError):
    """The archive was cut short, changed, or is not a pbxctl backup."""


class WrongPassphrase(PbxctlError):
    """The passphrase does not open the archive."""


def is_encrypted(start: bytes) -> bool:
    """Whether a file beginning with ``start`` is an encrypted archive."""
    return start.startswith(MAGIC)


def _derive(passphrase: bytes, salt: bytes, log2_n: int, r: int, p: int
            ) -> tuple[bytes, bytes]:
    derived = Scrypt(salt=salt, length=64, n=2**log2_n, r=r, p=p).derive(passphrase)
    return derived[:32], derived[32:]


def _check(check_key: bytes, fixed: bytes) -> bytes:
    return hmac.new(check_key, fixed, hashlib.sha256).digest()[:16]


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= _MAX_CHUNKS:
        raise DamagedArchive("the archive is too long to encrypt or decrypt")
    return prefix + struct.pack(">IB", index, 1 if last else 0)


class EncryptingWriter:
    """Writes what it is given to ``out`` encrypted; :meth:`finish` seals the last chunk
    (the file is not complete without it)."""

    def __init__(self, out: BinaryIO, passphrase: bytes) -> None:
        salt, self._prefix = os.urandom(16), os.urandom(7)
        key, check_key = _derive(passphrase, salt, LOG2_N, R, P)
        fixed = _FIXED.pack(MAGIC, LOG2_N, R, P, CHUNK, salt, self._prefix)
        self._header = fixed + _check(check_key, fixed)
        self._aead = AESGCM(key)
        self._out = out
        self._buffer = bytearray()
        self._index = 0
        out.write(self._header)

    def write(self, data: bytes) -> int:
        """Take ``data``; every full chunk is sealed and written at once."""
        self._buffer += data
        while len(self._buffer) > CHUNK:      # the last chunk is sealed by finish()
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def finish(self) -> None:
        """Seal what is left as the last chunk (empty when the data ended on a chunk)."""
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _seal(self, plain: bytes, last: bool) -> None:
        nonce = _nonce(self._prefix, self._index, last)
        self._out.write(self._aead.encrypt(nonce, plain, self._header))
        self._index += 1


class DecryptingReader:
    """Reads an encrypted archive from ``raw`` as the plain archive, each chunk checked
    before any of it is handed out."""

    def __init__(self, raw: BinaryIO, passphrase: bytes) -> None:
        header = raw.read(HEADER_SIZE)
        if len(header) < HEADER_SIZE or not is_encrypted(header):
            raise DamagedArchive("not an encrypted pbxctl backup (or cut short in its header)")
        fixed, check = header[:_FIXED.size], header[_FIXED.size:]
        _magic, log2_n, r, p, chunk, salt, prefix = _FIXED.unpack(fixed)
        if not (14 <= log2_n <= 20 and 1 <= r <= 16 and 1 <= p <= 4
                and 1024 <= chunk <= 16 * 1024 * 1024):
            raise DamagedArchive("the archive's encryption header is damaged or of an "
                                 "unknown kind")
        key, check_key = _derive(passphrase, salt, log2_n, r, p)
        if not hmac.compare_digest(_check(check_key, fixed), check):
            raise WrongPassphrase("the passphrase does not open this archive (wrong "
                                  "passphrase, or its header was changed)")
        self._raw, self._header, self._prefix, self._chunk = raw, header, prefix, chunk
        self._aead = AESGCM(key)
        self._index = 0
        self._plain = b""
        self._ahead = raw.read(chunk + TAG)
        self._done = False

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` plain bytes (all that is left when negative); b"" at the end."""
        while not self._done and (size < 0 or len(self._plain) < size):
            self._open_next()
        if size < 0:
            size = len(self._plain)
        data, self._plain = self._plain[:size], self._plain[size:]
        return data

    def read_to_end(self) -> None:
        """Check the rest of the file, down to the last chunk's seal."""
        while not self._done:
            self._open_next()
            self._plain = b""

    def _open_next(self) -> None:
        sealed = self._ahead
        self._ahead = self._raw.read(self._chunk + TAG) if len(sealed) == self._chunk + TAG \
            else b""
        last = not self._ahead
        if len(sealed) < TAG:
            raise DamagedArchive("the archive is cut short (its encrypted stream ends "
                                 "early)")
        try:
            self._plain += self._aead.decrypt(_nonce(self._prefix, self._index, last),
                                              sealed, self._header)
        except InvalidTag:
            raise DamagedArchive(f"the archive is damaged or was changed, or cut short "
                                 f"(encrypted chunk {self._index} does not authenticate)"
                                 ) from None
        self._index += 1
        self._done = last
