"""The database side of backups: one consistent read of every table, streamed in chunks,
and writing rows back into an empty schema.

Sealed secrets are read and written through their stored type (a plain string), so they
leave and come back exactly as stored, still sealed by the secrets key: never opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from asyncpg.exceptions import DataError as PgDataError
from asyncpg.exceptions import IntegrityConstraintViolationError
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    exists,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator, TypeEngine

from pbxctl.backup.archive import Row, encode_value
from pbxctl.db.models import Base
from pbxctl.db.secrets import Sealed
from pbxctl.db.session import sqlite_file

VERSION_TABLE = "alembic_version"
READ_CHUNK = 5000
WRITE_BATCH = 5000


def kind_of(type_: TypeEngine[Any]) -> str:
    """The archive's kind of values for a column type (a model's or a reflected one)."""
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    if not isinstance(type_, Float):            # inexact: no column of pbxctl's is one
        for cls, kind in ((Boolean, "bool"), (Integer, "int"), (Numeric, "decimal"),
                          (DateTime, "datetime"), (Date, "date"), (JSON, "json"),
                          (String, "text")):
            if isinstance(type_, cls):
                return kind
    raise TypeError(f"no archive kind for column type {type_!r}")


def stored_form(table: Table) -> Table:
    """``table`` with its sealed columns as the plain strings they are stored as."""
    metadata = MetaData()
    return Table(table.name, metadata, *(
        Column(c.name, c.type.impl_instance if isinstance(c.type, Sealed) else c.type,
               primary_key=c.primary_key) for c in table.columns))


def model_tables() -> list[Table]:
    """Every table pbxctl's models describe, each before those that refer to it."""
    return list(Base.metadata.sorted_tables)


def sealed_columns(table: Table) -> tuple[str, ...]:
    """The columns of a model table that hold sealed secrets."""
    return tuple(c.name for c in table.columns if isinstance(c.type, Sealed))


def columns_of(table: Table) -> tuple[tuple[str, str], ...]:
    """(name, kind) of each column, in order."""
    return tuple((c.name, kind_of(c.type)) for c in table.columns)


@asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in one read-only transaction that sees every table as of one moment,
    whatever others write meanwhile. PostgreSQL: REPEATABLE READ, READ ONLY. SQLite: a
    reader holds writers off until it ends, so the file is first copied page by page
    (SQLite's online backup, one step: writers wait for the copy only, at disk speed) and
    the copy is read at leisure; an in-memory database is read in one transaction."""
    if engine.dialect.name == "sqlite":
        path = sqlite_file(engine.url.render_as_string(hide_password=False))
        if path is not None:
            async with _sqlite_copy(path) as conn:
                yield conn
            return
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = await conn.execution_options(isolation_level="REPEATABLE READ",
                                                postgresql_readonly=True)
        async with conn.begin():
            if conn.dialect.name == "sqlite":
                await conn.exec_driver_sql("BEGIN")     # pysqlite starts none for a SELECT
            yield conn
            await conn.rollback()


@asynccontextmanager
async def _sqlite_copy(path: Path) -> AsyncIterator[AsyncConnection]:
    """A connection to a copy of the SQLite database ``path`` as of one moment (a file
    next to it, 0600, removed afterwards)."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".copy")
    os.close(handle)
    copy = Path(name)
    try:
        await asyncio.to_thread(_copy_sqlite, path, copy)
        engine = create_async_engine(f"sqlite+aiosqlite:///{copy}")
        try:
            async with engine.connect() as conn, conn.begin():
                yield conn
        finally:
            await engine.dispose()
    finally:
        for leftover in (copy, copy.with_name(copy.name + "-journal")):
            leftover.unlink(missing_ok=True)


def _copy_sqlite(source: Path, target: Path) -> None:
    with contextlib.closing(sqlite3.connect(source, timeout=10)) as reading, \
            contextlib.closing(sqlite3.connect(target)) as writing:
        reading.backup(writing)


async def stream_rows(conn: AsyncConnection, table: Table,
                      columns: tuple[tuple[str, str], ...]) -> AsyncIterator[list[Row]]:
    """The rows of ``table`` (its stored form), in primary key order, encoded for the
    archive, a chunk at a time."""
    stored = stored_form(table)
    query = select(*stored.columns).order_by(*stored.primary_key.columns)
    result = await conn.stream(query.execution_options(yield_per=READ_CHUNK))
    names = [name for name, _ in columns]
    kinds = [kind for _, kind in columns]
    async for chunk in result.partitions(READ_CHUNK):
        yield [{name: encode_value(kind, value)
                for name, kind, value in zip(names, kinds, row, strict=True)}
               for row in chunk]


async def reflect(conn: AsyncConnection) -> MetaData:
    """Every table the database holds now (its types as the database tells them: sealed
    columns are plain strings there)."""
    metadata = MetaData()
    await conn.run_sync(lambda sync: metadata.reflect(sync))
    return metadata


def data_tables(metadata: MetaData) -> list[Table]:
    """The tables of ``metadata`` that hold data (not Alembic's version table), each
    before those that refer to it."""
    return [t for t in metadata.sorted_tables if t.name != VERSION_TABLE]


async def tables_with_rows(conn: AsyncConnection, tables: Sequence[Table]) -> list[str]:
    """The names of those of ``tables`` that hold a row."""
    found = []
    for table in tables:
        if await conn.scalar(select(exists().select_from(table))):
            found.append(table.name)
    return found


async def empty(conn: AsyncConnection, tables: Sequence[Table]) -> None:
    """Remove every row of ``tables`` (in this transaction)."""
    if not tables:
        return
    if conn.dialect.name == "postgresql":
        names = ", ".join(conn.dialect.identifier_preparer.quote(t.name) for t in tables)
        await conn.execute(text(f"TRUNCATE {names}"))
        return
    for table in reversed(tables):
        await conn.execute(table.delete())


class RowsRefused(Exception):
    """The database refused rows (a key twice, a value that does not fit)."""


async def insert_rows(conn: AsyncConnection, table: Table, rows: list[Row]) -> None:
    """Insert ``rows`` (decoded values) into ``table``, a reflected one: ``COPY`` on
    PostgreSQL, a multi-row ``INSERT`` on SQLite."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        try:
            await conn.execute(insert(table), rows)
        except (IntegrityError, DataError) as exc:
            raise RowsRefused(str(exc.orig)) from None
        return
    columns = [c.name for c in table.columns]
    as_json = {c.name for c in table.columns if kind_of(c.type) == "json"}
    records = [tuple(json.dumps(row[name]) if name in as_json else row[name]
                     for name in columns) for row in rows]
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    try:
        await driver.copy_records_to_table(table.name, records=records, columns=columns)
    except (IntegrityConstraintViolationError, PgDataError) as exc:
        raise RowsRefused(str(exc)) from None


async def reset_sequences(conn: AsyncConnection, tables: Sequence[Table]) -> None:
    """PostgreSQL: each integer primary key's sequence goes on from the largest value
    restored (the next row gets max + 1)."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            continue
        column = keys[0].name
        sequence = await conn.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                     {"t": table.name, "c": column})
        if sequence is None:
            continue
        quoted = conn.dialect.identifier_preparer.quote
        await conn.execute(text(
            f"SELECT setval(:s, COALESCE((SELECT MAX({quoted(column)}) "
            f"FROM {quoted(table.name)}), 0) + 1, false)"), {"s": sequence})
