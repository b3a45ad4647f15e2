"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from pbxctl.db.key_files import KeySource, key_source
from pbxctl.db.secrets import attach_keys
from pbxctl.settings import Settings

DATABASE_FILE_MODE = 0o600
log = logging.getLogger(__name__)


def make_engine(database_url: str, keys: KeySource | None = None) -> AsyncEngine:
    """An engine whose secret columns use ``keys`` (default: the keys the environment
    names). SQLite gets its file created 0600 (a warning when it is wider), foreign keys
    enforced and a busy timeout."""
    engine = create_async_engine(database_url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        database = make_url(database_url).database
        if database and database != ":memory:":
            guard_database_file(Path(database))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    attach_keys(engine, keys or key_source(
        Settings().model_copy(update={"database_url": database_url})))
    return engine


def guard_database_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (SQLite gives its -journal,
    -wal and -shm files the same mode); warn when an existing one is readable by others."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DATABASE_FILE_MODE))
        return
    except FileExistsError:
        pass
    except OSError:
        return          # a directory that does not exist: the connection will say so
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the database %s may be read by other users, and it holds the "
                    "phones' credentials: chmod 600 %s", path, path)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose work is committed on success and rolled back on any exception."""
    factory = async_sessionmaker(engine, expire_on_commit=False)
    async with factory() as session, session.begin():
        yield session
