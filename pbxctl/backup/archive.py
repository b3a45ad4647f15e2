"""The backup archive: a tar whose first member is ``manifest.json``, then one member a
table, ``tables/<name>.jsonl.gz``: its rows as JSON lines (one object a row, values
written by the column's kind, :func:`encode_value`), gzip-compressed; after the tables,
a member for each part of a node's state that was read (``nodes/<node>/astdb.json``,
``nodes/<node>/media.tar``). The manifest names
the format and its version, the pbxctl and schema revision that wrote it, when (UTC) and
from which engine, and for every table its columns with their kinds, the sealed ones, its
row count and the SHA-256 of its member as stored, every node part likewise, and the
nodes whose state could not be read, with the reason. Nothing here knows SQL or a database.

Reading (:class:`ArchiveReader`) takes nothing on trust: members must come in the
manifest's order and no other, every line is parsed and checked against its column's
kind, and a member's rows and checksum are compared with the manifest when it ends.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, BinaryIO
from zlib import error as zlib_error

from pbxctl.backup.crypto import DamagedArchive

FORMAT = "pbxctl-backup"
FORMAT_VERSION = 2
NODE_PARTS = {"astdb": "json", "media": "tar"}
MANIFEST = "manifest.json"
KINDS = ("int", "decimal", "datetime", "date", "bool", "json", "text")
MAX_MANIFEST = 1024 * 1024
MAX_LINE = 16 * 1024 * 1024
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_REVISION_RE = re.compile(r"^[0-9a-zA-Z_]{1,32}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_KEY_ID_RE = re.compile(r"^[0-9a-f]{8}$")
_NODE_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
MAX_REASON = 500

Row = dict[str, Any]


@dataclass(frozen=True)
class TableEntry:
    """One table of the archive: its columns (name, kind) in order, which of them hold
    sealed secrets (copied as stored), its rows and the SHA-256 of its member."""

    name: str
    columns: tuple[tuple[str, str], ...]
    sealed: tuple[str, ...]
    rows: int
    sha256: str

    @property
    def member(self) -> str:
        """The member's name in the tar."""
        return f"tables/{self.name}.jsonl.gz"


@dataclass(frozen=True)
class NodePart:
    """One part of a node's state in the archive: its AstDB entries (``astdb``) or its
    recordings and voicemail (``media``); how many items, and the SHA-256 of its member."""

    node: str
    kind: str
    items: int
    sha256: str

    @property
    def member(self) -> str:
        """The member's name in the tar."""
        return f"nodes/{self.node}/{self.kind}.{NODE_PARTS[self.kind]}"


@dataclass(frozen=True)
class Manifest:
    """What the archive holds, written first."""

    pbxctl_version: str
    created_at: datetime
    schema_revision: str
    engine: str
    tables: tuple[TableEntry, ...]
    secrets_keys: tuple[str, ...] = ()     # ids of the keys that sealed its secrets
    node_parts: tuple[NodePart, ...] = ()
    nodes_missing: tuple[tuple[str, str], ...] = ()   # (node, why its state is not here)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        """The manifest as it is stored."""
        return json.dumps({
            "format": FORMAT, "format_version": self.format_version,
            "pbxctl_version": self.pbxctl_version,
            "created_at": self.created_at.astimezone(UTC).isoformat(),
            "schema_revision": self.schema_revision, "engine": self.engine,
            "secrets_keys": list(self.secrets_keys),
            "tables": [{"name": t.name, "columns": [list(c) for c in t.columns],
                        "sealed": list(t.sealed), "rows": t.rows, "sha256": t.sha256}
                       for t in self.tables],
            "node_parts": [{"node": p.node, "kind": p.kind, "items": p.items,
                            "sha256": p.sha256} for p in self.node_parts],
            "nodes_missing": [{"node": node, "reason": reason}
                              for node, reason in self.nodes_missing]},
            indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """A manifest read back, every field checked."""
        try:
            raw = json.loads(data)
            if not isinstance(raw, dict) or raw.get("format") != FORMAT:
                raise ValueError("not a pbxctl backup manifest")
            version = raw["format_version"]
            if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
                raise _Newer(f"the archive's format version {version!r} is newer than this "
                             f"pbxctl reads ({FORMAT_VERSION}): restore with the pbxctl "
                             f"that wrote it ({raw.get('pbxctl_version')!r}) or newer")
            created = datetime.fromisoformat(_text(raw["created_at"]))
            if created.tzinfo is None:
                raise ValueError("created_at has no time zone")
            tables = tuple(_table_entry(t) for t in _list(raw["tables"]))
            if len({t.name for t in tables}) != len(tables):
                raise ValueError("a table is listed twice")
            revision = _text(raw["schema_revision"])
            if not _REVISION_RE.match(revision):
                raise ValueError(f"bad schema revision {revision!r}")
            keys = tuple(_text(key) for key in _list(raw.get("secrets_keys", [])))
            if not all(_KEY_ID_RE.match(key) for key in keys):
                raise ValueError("bad secrets key id")
            parts = tuple(_node_part(p) for p in _list(raw.get("node_parts", [])))
            if len({p.member for p in parts}) != len(parts):
                raise ValueError("a node part is listed twice")
            missing = tuple(_node_missing(m) for m in _list(raw.get("nodes_missing", [])))
            return cls(pbxctl_version=_text(raw["pbxctl_version"]), created_at=created,
                       schema_revision=revision, engine=_text(raw["engine"]),
                       tables=tables, secrets_keys=keys, node_parts=parts,
                       nodes_missing=missing, format_version=version)
        except _Newer as exc:
            raise DamagedArchive(str(exc)) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise DamagedArchive(f"the archive's manifest is damaged: {exc}") from None

    @property
    def total_rows(self) -> int:
        """Rows in every table."""
        return sum(t.rows for t in self.tables)


class _Newer(Exception):
    pass


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"{value!r} is not a list")
    return value


def _table_entry(raw: Any) -> TableEntry:
    if not isinstance(raw, dict):
        raise TypeError("a table entry is not an object")
    name = _text(raw["name"])
    pairs = [_list(c) for c in _list(raw["columns"])]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"table entry {name!r} has a malformed column")
    columns = tuple((_text(c[0]), _text(c[1])) for c in pairs)
    sealed = tuple(_text(c) for c in _list(raw["sealed"]))
    rows, sha = raw["rows"], _text(raw["sha256"])
    names = [c for c, _ in columns]
    if (not _NAME_RE.match(name) or not columns or len(set(names)) != len(names)
            or not all(_NAME_RE.match(c) and kind in KINDS for c, kind in columns)
            or not set(sealed) <= set(names) or not isinstance(rows, int)
            or isinstance(rows, bool) or rows < 0 or not _SHA_RE.match(sha)):
        raise ValueError(f"table entry {name!r} is malformed")
    return TableEntry(name, columns, sealed, rows, sha)


def _node_part(raw: Any) -> NodePart:
    if not isinstance(raw, dict):
        raise TypeError("a node part is not an object")
    node, kind, items, sha = (_text(raw["node"]), _text(raw["kind"]), raw["items"],
                              _text(raw["sha256"]))
    if (not _NODE_RE.match(node) or kind not in NODE_PARTS or not isinstance(items, int)
            or isinstance(items, bool) or items < 0 or not _SHA_RE.match(sha)):
        raise ValueError(f"node part {node!r} {kind!r} is malformed")
    return NodePart(node, kind, items, sha)


def _node_missing(raw: Any) -> tuple[str, str]:
    if not isinstance(raw, dict):
        raise TypeError("a missing node is not an object")
    node, reason = _text(raw["node"]), _text(raw["reason"])
    if not _NODE_RE.match(node) or len(reason) > MAX_REASON:
        raise ValueError(f"missing node {node!r} is malformed")
    return node, reason


def encode_value(kind: str, value: Any) -> Any:
    """A column's value as the archive writes it: numbers as exact decimal strings,
    times as ISO 8601 in UTC, dates as ISO, JSON as JSON."""
    if value is None or kind in ("int", "bool", "json", "text"):
        return value
    if kind == "decimal":
        return format(Decimal(value), "f")
    if kind == "datetime":
        if value.tzinfo is None:      # SQLite forgets zones; pbxctl stores UTC only
            value = value.replace(tzinfo=UTC)
        return str(value.astimezone(UTC).isoformat())
    if kind == "date":
        return str(value.isoformat())
    raise ValueError(f"unknown kind {kind!r}")


def decode_value(kind: str, value: Any) -> Any:
    """A value read from the archive, checked against its column's kind."""
    if value is None:
        return None
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "text" and isinstance(value, str):
        return value
    if kind == "json":
        return value
    if kind == "decimal" and isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
        if number.is_finite():
            return number
    if kind == "datetime" and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    if kind == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    raise ValueError(f"{value!r} is not a valid {kind}")


class TableSpool:
    """One table's member written to an unnamed temporary file (readable by its owner
    only) while its rows are read, so the tar can give its size, and the manifest its
    rows and checksum, before it."""

    def __init__(self, name: str, columns: tuple[tuple[str, str], ...],
                 sealed: tuple[str, ...], directory: Path) -> None:
        self.name, self.columns, self.sealed = name, columns, sealed
        self.file: IO[bytes] = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115
        self._gzip = gzip.GzipFile(fileobj=self.file, mode="wb", mtime=0, compresslevel=6)
        self.rows = 0

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows whose values are already encoded (:func:`encode_value`)."""
        lines = [json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows]
        if lines:
            self._gzip.write(("\n".join(lines) + "\n").encode())
            self.rows += len(lines)

    def finish(self) -> TableEntry:
        """Close the member; its entry for the manifest."""
        self._gzip.close()
        return TableEntry(self.name, self.columns, self.sealed, self.rows,
                          file_sha256(self.file))


def file_sha256(file: IO[bytes]) -> str:
    """The SHA-256 of a seekable file's bytes, read from its start (left at its start)."""
    file.seek(0)
    digest = hashlib.sha256()
    while block := file.read(1024 * 1024):
        digest.update(block)
    file.seek(0)
    return digest.hexdigest()


def write_archive(out: Any, manifest: Manifest, spools: Iterable[TableSpool],
                  parts: Iterable[tuple[NodePart, IO[bytes]]] = ()) -> None:
    """Write the tar to ``out`` (anything with ``write``): the manifest, then each
    table's member, then each node part's (seekable files), streamed."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        data = manifest.to_json()
        tar.addfile(_info(MANIFEST, len(data), manifest), io.BytesIO(data))
        for spool in spools:
            spool.file.seek(0, io.SEEK_END)
            size = spool.file.tell()
            spool.file.seek(0)
            tar.addfile(_info(f"tables/{spool.name}.jsonl.gz", size, manifest), spool.file)
        for part, file in parts:
            file.seek(0, io.SEEK_END)
            size = file.tell()
            file.seek(0)
            tar.addfile(_info(part.member, size, manifest), file)


def _info(name: str, size: int, manifest: Manifest) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o600
    info.mtime = int(manifest.created_at.timestamp())
    return info


class _Hashing:
    """A member's bytes as read, hashed on the way."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.digest, self.size = raw, hashlib.sha256(), 0

    def read(self, size: int = -1, /) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1024 * 1024):
            pass


class ArchiveReader:
    """An archive read once, front to back, from ``stream`` (the plain tar)."""

    def __init__(self, stream: BinaryIO | Any) -> None:
        try:
            self._tar = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115
            first = self._tar.next()
        except (tarfile.TarError, EOFError, OSError):
            raise DamagedArchive("not a pbxctl backup (no archive could be read from "
                                 "it; an encrypted one starts otherwise)") from None
        if first is None or first.name != MANIFEST or not first.isfile() \
                or first.size > MAX_MANIFEST:
            raise DamagedArchive(f"not a pbxctl backup: it does not begin with {MANIFEST}")
        extracted = self._tar.extractfile(first)
        assert extracted is not None
        self.manifest = Manifest.from_json(extracted.read())

    def tables(self) -> Iterator[tuple[TableEntry, Iterator[Row]]]:
        """Each table of the manifest in order with its rows, decoded and checked; each
        row iterator must be used up before the next table. An archive with no node
        parts ends here: no member may be left over."""
        for entry in self.manifest.tables:
            yield entry, self._rows(entry, self._expect(entry.member))
        if not self.manifest.node_parts:
            self._end()

    def node_parts(self) -> Iterator[tuple[NodePart, IO[bytes]]]:
        """After :meth:`tables`, each node part with its member's bytes as a stream; its
        checksum is checked once the caller is done with it (what it read of the stream
        is not to be trusted before then). Ends by checking that no member is left over."""
        if not self.manifest.node_parts:
            return     # checked at the end of the tables
        for part in self.manifest.node_parts:
            extracted = self._tar.extractfile(self._expect(part.member))
            assert extracted is not None
            hashing = _Hashing(extracted)
            try:
                yield part, hashing    # type: ignore[misc]
                hashing.drain()
            except (OSError, EOFError, tarfile.TarError) as exc:
                raise DamagedArchive(f"{part.member} is damaged or cut short ({exc})") from None
            if hashing.digest.hexdigest() != part.sha256:
                raise DamagedArchive(f"{part.member} does not match its checksum in the "
                                     "manifest: the archive was changed or damaged")
        self._end()

    def _expect(self, name: str) -> tarfile.TarInfo:
        member = self._next_member()
        if member is None:
            raise DamagedArchive(f"the archive is cut short: {name} is missing")
        if member.name != name or not member.isfile():
            raise DamagedArchive(f"the archive is damaged: found {member.name!r} where "
                                 f"{name} should be")
        return member

    def _end(self) -> None:
        if self._next_member() is not None:
            raise DamagedArchive("the archive holds members its manifest does not list")

    def _next_member(self) -> tarfile.TarInfo | None:
        try:
            return self._tar.next()
        except (tarfile.TarError, EOFError, OSError, zlib_error) as exc:
            raise DamagedArchive(f"the archive is damaged or cut short ({exc})") from None

    def _rows(self, entry: TableEntry, member: tarfile.TarInfo) -> Iterator[Row]:
        extracted = self._tar.extractfile(member)
        assert extracted is not None
        hashing = _Hashing(extracted)
        kinds = dict(entry.columns)
        count = 0
        try:
            with gzip.GzipFile(fileobj=hashing, mode="rb") as lines:  # type: ignore[call-overload]
                while line := lines.readline(MAX_LINE + 1):
                    count += 1
                    yield _row(entry, kinds, line, count)
            hashing.drain()
        except (OSError, EOFError, zlib_error, tarfile.TarError) as exc:
            raise DamagedArchive(f"{entry.member} is damaged or cut short ({exc})") from None
        if hashing.digest.hexdigest() != entry.sha256:
            raise DamagedArchive(f"{entry.member} does not match its checksum in the "
                                 "manifest: the archive was changed or damaged")
        if count != entry.rows:
            raise DamagedArchive(f"{entry.member} holds {count} rows, its manifest says "
                                 f"{entry.rows}")


def _row(entry: TableEntry, kinds: dict[str, str], line: bytes, number: int) -> Row:
    where = f"{entry.member} line {number}"
    if len(line) > MAX_LINE or not line.endswith(b"\n"):
        raise DamagedArchive(f"{where} is too long or unterminated")
    try:
        raw = json.loads(line)
    except ValueError:
        raise DamagedArchive(f"{where} is not JSON") from None
    if not isinstance(raw, dict) or set(raw) != set(kinds):
        raise DamagedArchive(f"{where} does not hold the table's columns")
    try:
        return {name: decode_value(kinds[name], value) for name, value in raw.items()}
    except ValueError as exc:
        raise DamagedArchive(f"{where}: {exc}") from None

