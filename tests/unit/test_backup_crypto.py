"""The archive's streamed encryption: what comes out is what went in, and any change to
the file (a chunk cut, dropped, moved or altered, the header edited) is refused."""

from __future__ import annotations

import io
import os

import pytest

from pbxctl.backup import crypto
from pbxctl.backup.crypto import (
    CHUNK,
    HEADER_SIZE,
    TAG,
    DamagedArchive,
    DecryptingReader,
    EncryptingWriter,
    WrongPassphrase,
)


@pytest.fixture(autouse=True)
def quick_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "LOG2_N", 14)   # the smallest a reader accepts


def sealed(plain: bytes, passphrase: bytes = b"pass phrase") -> bytes:
    out = io.BytesIO()
    writer = EncryptingWriter(out, passphrase)
    for start in range(0, len(plain), 10_000):     # written in pieces, as tar does
        writer.write(plain[start:start + 10_000])
    writer.finish()
    return out.getvalue()


def opened(data: bytes, passphrase: bytes = b"pass phrase") -> bytes:
    reader = DecryptingReader(io.BytesIO(data), passphrase)
    got = b"".join(iter(lambda: reader.read(7777), b""))
    reader.read_to_end()
    return got


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 200_001])
def test_what_goes_in_comes_out(size: int) -> None:
    plain = os.urandom(size)
    data = sealed(plain)
    assert opened(data) == plain
    assert plain[:64] not in data or size < 16     # a byte or two may recur by chance


def test_every_change_is_refused() -> None:
    data = sealed(os.urandom(3 * CHUNK + 500))
    step = CHUNK + TAG
    chunks = [data[HEADER_SIZE + i:HEADER_SIZE + i + step]
              for i in range(0, len(data) - HEADER_SIZE, step)]
    header = data[:HEADER_SIZE]
    damaged = {
        "cut at a chunk's end": header + b"".join(chunks[:2]),
        "cut inside a chunk": data[:-100],
        "last chunk dropped": header + b"".join(chunks[:3]),
        "chunks swapped": header + chunks[1] + chunks[0] + b"".join(chunks[2:]),
        "a byte changed": data[:HEADER_SIZE + 5] + bytes([data[HEADER_SIZE + 5] ^ 1])
        + data[HEADER_SIZE + 6:],
        "a chunk repeated": header + chunks[0] + b"".join(chunks),
    }
    for name, bad in damaged.items():
        with pytest.raises(DamagedArchive):
            opened(bad)
            pytest.fail(name)
    with pytest.raises(WrongPassphrase):
        opened(data, b"another phrase")
    edited = data[:9] + bytes([data[9] ^ 1]) + data[10:]     # r in the header
    with pytest.raises((WrongPassphrase, DamagedArchive)):
        opened(edited)
    with pytest.raises(DamagedArchive):
        opened(data[:20])
