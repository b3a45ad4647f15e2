"""Backups of the whole database and their restore: the use cases ``pbxctl backup`` and
``pbxctl restore`` call (the archive's format is ``pbxctl/backup``, the reading and writing
of rows ``db/snapshot.py``).

A backup reads every table in one snapshot, writes the archive atomically (0600 from the
start), then records ``backup.create`` in a transaction of its own: written inside the
snapshot's, the row would change what it records (and the snapshot only reads). A restore
checks the whole archive first, then in one transaction empties (``force``) or finds
empty the database, migrates it to the archive's schema revision, inserts the rows,
upgrades to this pbxctl's schema and records ``backup.restore``: a failure anywhere leaves
the database as it was.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from pbxctl import __version__
from pbxctl.backup import media, node_state
from pbxctl.backup.archive import (
    ArchiveReader,
    Manifest,
    NodePart,
    Row,
    TableSpool,
    file_sha256,
    write_archive,
)
from pbxctl.backup.crypto import (
    MAGIC,
    DamagedArchive,
    DecryptingReader,
    EncryptingWriter,
    is_encrypted,
)
from pbxctl.db import migrate, snapshot
from pbxctl.db.models import utcnow
from pbxctl.db.schema_check import require_schema
from pbxctl.db.secrets import keys_of, sealed_key_id
from pbxctl.errors import ConflictError, NotFoundError, PbxctlError, ValidationError
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.bundle import unit_of_work
from pbxctl.services.deploy import ami_connector
from pbxctl.services.node_state import PutBack, put_state, read_nodes
from pbxctl.settings import Settings

ARCHIVE_MODE = 0o600


@dataclass(frozen=True)
class BackupResult:
    """A backup written: where, what it holds, and the file's SHA-256."""

    path: Path
    manifest: Manifest
    encrypted: bool
    size: int
    sha256: str


@dataclass(frozen=True)
class RestoreResult:
    """A restore done: the archive's manifest, the rows put back per table, the schema
    revision they were written at and the one the database is at now."""

    path: Path
    manifest: Manifest
    rows: dict[str, int]
    schema_now: str
    replaced: list[str] = field(default_factory=list)   # tables that held rows (force)


def default_name(now: datetime, encrypted: bool) -> str:
    """``pbxctl-backup-20261130T203000Z.tar`` (``.tar.enc`` when encrypted)."""
    return f"pbxctl-backup-{now:%Y%m%dT%H%M%SZ}.tar{'.enc' if encrypted else ''}"


async def create_backup(engine: AsyncEngine, actor: Actor, settings: Settings,
                        out: Path | None, passphrase: bytes | None,
                        now: Callable[[], datetime] = utcnow,
                        require_nodes: bool = False, with_media: bool = False
                        ) -> BackupResult:
    """Write one archive of every table as of one moment to ``out`` (default: a name
    with the time in the current directory), encrypted with ``passphrase`` if given,
    with each node's AstDB state; a node that does not answer is listed as missing
    (with ``require_nodes``, nothing is written then), and with ``with_media`` the
    recordings and voicemail of each node that has a recordings_dir."""
    if passphrase is not None and not passphrase:
        raise ValidationError("passphrase_file", "the passphrase is empty")
    await require_schema(engine)
    started = now()
    path = out if out is not None else Path(default_name(started, passphrase is not None))
    if not path.parent.is_dir():
        raise ValidationError("output", f"{path.parent} is not a directory")
    async with unit_of_work(engine, actor, settings) as services:
        nodes = list(await services.nodes.list())
        connectors = [(node.name, ami_connector(node, settings.ami_timeout))
                      for node in nodes]
        media_dirs = {node.name: Path(node.recordings_dir) for node in nodes
                      if with_media and node.recordings_dir}
    states, missing = await read_nodes(connectors)
    if missing and require_nodes:
        raise PbxctlError("no backup written: the state of node "
                          + "; of node ".join(f"{n} could not be read ({why})"
                                              for n, why in missing)
                          + " (`require_nodes`)")
    parts = [_astdb_part(name, entries) for name, entries in states]
    spools: list[TableSpool] = []
    key_ids: set[str] = set()
    try:
        for name, recordings in media_dirs.items():
            parts.append(await asyncio.to_thread(_media_part, name, recordings, path.parent))
        async with snapshot.snapshot(engine) as conn:
            revision = str(await conn.scalar(text("SELECT version_num FROM alembic_version")))
            created_at = now()
            for table in snapshot.model_tables():
                spool = TableSpool(table.name, snapshot.columns_of(table),
                                   snapshot.sealed_columns(table), path.parent)
                spools.append(spool)
                async for chunk in snapshot.stream_rows(conn, table, spool.columns):
                    spool.add(chunk)
                    key_ids.update(_sealed_by(chunk, spool.sealed))
        entries = tuple(spool.finish() for spool in spools)
        manifest = Manifest(__version__, created_at, revision, engine.dialect.name, entries,
                            tuple(sorted(key_ids)), tuple(part for part, _ in parts),
                            tuple(missing))
        size, digest = await asyncio.to_thread(
            _write_atomically, path,
            lambda sink: _write(sink, manifest, spools, parts, passphrase))
    finally:
        for spool in spools:
            spool.file.close()
        for _, file in parts:
            file.close()
    result = BackupResult(path, manifest, passphrase is not None, size, digest)
    async with unit_of_work(engine, actor, settings) as services:
        services.audit.record(
            "backup.create", "backup", _stamp(created_at),
            after={"file": str(path.resolve()), "sha256": digest, "bytes": size,
                   "schema": revision, "rows": manifest.total_rows,
                   "encrypted": result.encrypted,
                   "nodes": [part.node for part, _ in parts],
                   "nodes_missing": [node for node, _ in missing]},
            detail=f"{manifest.total_rows} rows in {len(entries)} tables"
                   + (f"; no state of node {', '.join(n for n, _ in missing)}"
                      if missing else ""))
    return result


def _astdb_part(node: str, entries: list[node_state.Entry]) -> tuple[NodePart, IO[bytes]]:
    """A node's AstDB entries as an archive member."""
    file = io.BytesIO(node_state.dump(entries))
    return NodePart(node_state.node_name(node), "astdb", len(entries),
                    file_sha256(file)), file


def _media_part(node: str, recordings: Path, spool_dir: Path
                ) -> tuple[NodePart, IO[bytes]]:
    """A node's recordings and voicemail as an archive member, spooled to an unnamed
    temporary file."""
    file = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - closed by the caller
    count = media.write_media(file, media.roots(recordings))
    return NodePart(node_state.node_name(node), "media", count, file_sha256(file)), file


def _put_media(path: Path, passphrase: bytes | None, node: str,
               recordings: Path) -> tuple[int, int]:
    """Put the node's media from the archive (read through and found sound before)
    back; (files written, files already there)."""
    with _open(path) as raw:
        reader = ArchiveReader(_plain(raw, passphrase))
        for _entry, rows in reader.tables():
            for _row in rows:
                pass
        done = (0, 0)
        for part, data in reader.node_parts():
            if (part.node, part.kind) == (node, "media"):
                try:
                    done = media.put_media(data, media.roots(recordings))
                except (media.BadMedia, OSError) as exc:
                    raise PbxctlError(f"{part.member}: {exc}") from None
        return done


def _sealed_by(rows: list[Row], sealed: tuple[str, ...]) -> set[str]:
    """The ids of the keys that sealed the secrets in ``rows``."""
    return {kid for row in rows for name in sealed
            if row[name] is not None and (kid := sealed_key_id(row[name]))}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Sink:
    """The output file, its bytes counted and hashed as they are written."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.digest, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def _write(sink: _Sink, manifest: Manifest, spools: list[TableSpool],
           parts: list[tuple[NodePart, IO[bytes]]], passphrase: bytes | None) -> None:
    if passphrase is None:
        write_archive(sink, manifest, spools, parts)
        return
    encrypting = EncryptingWriter(sink, passphrase)   # type: ignore[arg-type]
    write_archive(encrypting, manifest, spools, parts)
    encrypting.finish()


def _write_atomically(path: Path, write: Callable[[_Sink], None]) -> tuple[int, str]:
    """Write a file next to ``path`` (0600 from the start), fsync it, and rename it
    over ``path``: a reader sees the old file or the whole new one."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp")
    try:
        os.fchmod(handle, ARCHIVE_MODE)
        with os.fdopen(handle, "wb") as out:
            sink = _Sink(out)
            write(sink)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return sink.size, sink.digest.hexdigest()


def _plain(raw: BinaryIO, passphrase: bytes | None) -> BinaryIO | DecryptingReader:
    """The tar in ``raw`` (read from its start), decrypted when it is encrypted."""
    raw.seek(0)
    encrypted = is_encrypted(raw.read(len(MAGIC)))
    raw.seek(0)
    if not encrypted:
        return raw
    if passphrase is None:
        raise ValidationError("passphrase_file", "the archive is encrypted: give the file "
                              "that holds its passphrase")
    return DecryptingReader(raw, passphrase)


@dataclass(frozen=True)
class ReadThrough:
    """An archive read whole and found sound: its manifest, the sealed values it holds
    and each node's AstDB entries."""

    manifest: Manifest
    sealed: list[str]
    states: dict[str, list[node_state.Entry]]


def _chosen(whole: ReadThrough, nodes: tuple[str, ...]) -> list[str]:
    """The nodes ``nodes`` names (``all``: each the archive holds state of), each one
    whose state the archive holds."""
    missing = dict(whole.manifest.nodes_missing)
    chosen = sorted(whole.states) if "all" in nodes else list(dict.fromkeys(nodes))
    for name in chosen:
        if name in missing:
            raise PbxctlError(f"the backup holds no state of node {name}: it could not be "
                              f"read when the backup was made ({missing[name]})", "to_node")
        if name not in whole.states:
            raise NotFoundError(f"the backup holds no state of node {name!r}", "to_node")
    return chosen


def _open(path: Path) -> BinaryIO:
    """The archive at ``path``, opened for reading."""
    try:
        return path.open("rb")
    except OSError as exc:
        raise PbxctlError(f"cannot read {path}: {exc.strerror}") from None


def _read_through(raw: BinaryIO, passphrase: bytes | None) -> ReadThrough:
    """Read the whole archive, checking everything (first pass of a restore)."""
    stream = _plain(raw, passphrase)
    reader = ArchiveReader(stream)
    sealed: list[str] = []
    for entry, rows in reader.tables():
        for row in rows:
            sealed += (row[name] for name in entry.sealed if row[name] is not None)
    states: dict[str, list[node_state.Entry]] = {}
    for part, data in reader.node_parts():
        if part.kind == "astdb":
            content = data.read(node_state.MAX_STATE + 1)
            try:
                states[part.node] = node_state.load(content)
            except node_state.BadNodeState as exc:
                raise DamagedArchive(f"{part.member}: {exc}") from None
    if isinstance(stream, DecryptingReader):
        stream.read_to_end()
    return ReadThrough(reader.manifest, sealed, states)


def _check_keys(engine: AsyncEngine, sealed: list[str]) -> None:
    """Every sealed secret of the archive opens with the configured key, or nothing is
    restored: a database whose secrets nothing opens would fail at the first apply."""
    needed = sorted({kid for value in sealed if (kid := sealed_key_id(value))})
    if not needed:
        return
    keys = keys_of(engine)
    advice = (f"the archive's secrets are sealed with key {', '.join(needed)}: put back the "
              "secrets key file kept with the backups (or set PBXCTL_SECRETS_KEY) first")
    try:
        ring = keys.ring()
        for value in sealed:
            ring.open(value)
    except PbxctlError as exc:
        raise PbxctlError(f"{exc}; {advice}") from None


async def restore_backup(engine: AsyncEngine, actor: Actor, path: Path,
                         passphrase: bytes | None, force: bool,
                         nodes: tuple[str, ...] = ()) -> RestoreResult:
    """Put the archive at ``path`` into the database (empty, or emptied with ``force``);
    refused first when it lacks the state of ``nodes`` (to be put back next)."""
    with _open(path) as raw:
        whole = await asyncio.to_thread(_read_through, raw, passphrase)
        _chosen(whole, nodes)
        manifest, sealed = whole.manifest, whole.sealed
        if not migrate.known_revision(manifest.schema_revision):
            raise PbxctlError(
                f"the archive is at schema revision {manifest.schema_revision}, which this "
                f"pbxctl ({__version__}, schema {migrate.head_revision()}) does not know: "
                f"restore it with pbxctl {manifest.pbxctl_version} or newer")
        _check_keys(engine, sealed)
        async with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:   # migrations rebuild tables; foreign keys checked before commit
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                await conn.commit()
            try:
                async with conn.begin():
                    if sqlite:
                        await conn.exec_driver_sql("BEGIN IMMEDIATE")
                    return await _restore_in(conn, actor, raw, passphrase, force, manifest,
                                             path)
            finally:
                if sqlite:
                    await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    await conn.commit()


async def _restore_in(conn: AsyncConnection, actor: Actor, raw: BinaryIO,
                      passphrase: bytes | None, force: bool, manifest: Manifest,
                      path: Path) -> RestoreResult:
    existing = snapshot.data_tables(await snapshot.reflect(conn))
    holding = await snapshot.tables_with_rows(conn, existing)
    if holding and not force:
        raise ConflictError(
            f"the database is not empty ({', '.join(holding)} hold rows): restore into a "
            "new, empty database (no 'pbxctl init' needed), or give `force` to replace "
            "everything in it")
    if holding:
        await snapshot.empty(conn, existing)
    try:
        await conn.run_sync(lambda sync: migrate.migrate_to(sync, manifest.schema_revision))
    except ValueError as exc:
        raise PbxctlError(str(exc)) from None
    tables = {t.name: t for t in snapshot.data_tables(await snapshot.reflect(conn))}
    _matches(manifest, tables)

    stream = _plain(raw, passphrase)
    reader = ArchiveReader(stream)
    if reader.manifest != manifest:
        raise DamagedArchive("the archive changed while it was being restored")
    restored: dict[str, int] = {}
    for entry, rows in reader.tables():
        try:
            await _insert(conn, tables[entry.name], rows)
        except snapshot.RowsRefused as exc:
            raise DamagedArchive(f"the database refuses the archive's rows of {entry.name} "
                                 f"({exc}); nothing was restored") from None
        restored[entry.name] = entry.rows
    if isinstance(stream, DecryptingReader):
        stream.read_to_end()
    await snapshot.reset_sequences(conn, list(tables.values()))
    head = migrate.head_revision()
    await conn.run_sync(lambda sync: migrate.migrate_to(sync, head))
    if conn.dialect.name == "sqlite":
        broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
        if broken:
            raise DamagedArchive(f"the archive's rows break foreign keys: {broken[:5]}")

    session = AsyncSession(bind=conn)
    AuditTrail(session, actor).record(
        "backup.restore", "backup", _stamp(manifest.created_at),
        before={"tables_with_rows": holding} if holding else None,
        after={"file": str(path.resolve()), "created_at": manifest.created_at.isoformat(),
               "schema": manifest.schema_revision, "engine": manifest.engine,
               "pbxctl_version": manifest.pbxctl_version, "rows": manifest.total_rows},
        detail=f"{manifest.total_rows} rows in {len(restored)} tables"
               + (" (replaced what the database held)" if holding else ""))
    await session.flush()
    await session.close()
    return RestoreResult(path, manifest, restored, head, holding)


async def _insert(conn: AsyncConnection, table: Table, rows: Iterator[Row]) -> None:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= snapshot.WRITE_BATCH:
            await snapshot.insert_rows(conn, table, batch)
            batch = []
    await snapshot.insert_rows(conn, table, batch)


def _matches(manifest: Manifest, tables: dict[str, Table]) -> None:
    """The archive's tables and columns are those of the schema at its revision, in an
    order that inserts no row before the rows it refers to."""
    where = f"schema revision {manifest.schema_revision}"
    names = {entry.name for entry in manifest.tables}
    if names != set(tables):
        missing, unknown = sorted(set(tables) - names), sorted(names - set(tables))
        raise DamagedArchive(f"the archive's tables are not those of {where} (missing: "
                             f"{', '.join(missing) or 'none'}; unknown: "
                             f"{', '.join(unknown) or 'none'})")
    seen: set[str] = set()
    for entry in manifest.tables:
        table = tables[entry.name]
        if dict(entry.columns) != dict(snapshot.columns_of(table)):
            raise DamagedArchive(f"the archive's columns of {entry.name} are not those of "
                                 f"{where}")
        refers = {fk.column.table.name for fk in table.foreign_keys} - {entry.name}
        if not refers <= seen:
            raise DamagedArchive(f"the archive lists {entry.name} before the tables it "
                                 f"refers to ({', '.join(sorted(refers - seen))})")
        seen.add(entry.name)


def describe(manifest: Manifest) -> dict[str, Any]:
    """The manifest as the interfaces show it."""
    return {"created_at": manifest.created_at.isoformat(),
            "schema_revision": manifest.schema_revision, "engine": manifest.engine,
            "pbxctl_version": manifest.pbxctl_version,
            "secrets_keys": list(manifest.secrets_keys),
            "tables": {t.name: t.rows for t in manifest.tables},
            "node_state": {p.node: p.items for p in manifest.node_parts if p.kind == "astdb"},
            "media": {p.node: p.items for p in manifest.node_parts if p.kind == "media"},
            "nodes_missing": dict(manifest.nodes_missing)}


async def restore_node_state(engine: AsyncEngine, actor: Actor, settings: Settings,
                             path: Path, passphrase: bytes | None,
                             nodes: tuple[str, ...], with_media: bool = False
                             ) -> list[PutBack]:
    """Put the AstDB state the archive holds back on ``nodes`` (``all``: every node it
    holds state of), reached as the database (restored already) describes them; with
    ``with_media``, their recordings and voicemail too (files already there are kept)."""
    with _open(path) as raw:
        whole = await asyncio.to_thread(_read_through, raw, passphrase)
    chosen = _chosen(whole, nodes)
    with_parts = {p.node for p in whole.manifest.node_parts if p.kind == "media"}
    done = []
    for name in chosen:
        async with unit_of_work(engine, actor, settings) as services:
            node = await services.nodes.get(name)
            connect = ami_connector(node, settings.ami_timeout)
            recordings = Path(node.recordings_dir) if node.recordings_dir else None
        if with_media and name in with_parts and recordings is None:
            raise ValidationError("with_media", f"node {name} has no recordings_dir to put "
                                                "its recordings and voicemail back in")
        ami = await connect()
        try:
            put = await put_state(ami, name, whole.states[name])
        finally:
            await ami.close()
        if with_media and name in with_parts and recordings is not None:
            written, kept = await asyncio.to_thread(_put_media, path, passphrase, name,
                                                    recordings)
            put = dataclasses.replace(put, media_written=written, media_kept=kept)
        async with unit_of_work(engine, actor, settings) as services:
            services.audit.record(
                "backup.restore-node", "node", name,
                after={"file": str(path.resolve()),
                       "created_at": whole.manifest.created_at.isoformat(),
                       "entries": put.entries, "removed": put.removed,
                       "queue_members": put.members, "media_written": put.media_written,
                       "media_kept": put.media_kept},
                detail=f"{put.entries} AstDB entries, {put.members} queue members")
        done.append(put)
    return done
