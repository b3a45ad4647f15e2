"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import contextlib
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

from pbxctl.db.key_files import KeySource
from pbxctl.db.secrets import attach_keys
from pbxctl.settings import DEFAULT_CONFIG_FILE, Settings

DATABASE_FILE_MODE = 0o600


def make_engine(database_url: str, keys: KeySource | None = None) -> AsyncEngine:
    """An engine whose secret columns use ``keys`` (default: those the environment names,
    for scripts and tests; the CLI passes those of its settings). SQLite gets its file
    created 0600, foreign keys enforced and a busy timeout."""
    engine = create_async_engine(database_url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        path = sqlite_file(database_url)
        if path is not None:
            create_database_file(path)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    attach_keys(engine, keys or key_source(
        Settings().model_copy(update={"database_url": database_url})))
    return engine


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite database URL; None for PostgreSQL or an in-memory database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(str(url.database))


def create_database_file(path: Path) -> None:
    """Create a SQLite file that does not exist yet readable by its owner only, whatever
    the umask (SQLite gives its -journal, -wal and -shm files the same mode)."""
    with contextlib.suppress(OSError):   # it exists, or the connection will tell
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DATABASE_FILE_MODE))


def key_source(settings: Settings) -> KeySource:
    """Where ``settings`` say the secrets keys are."""
    key = settings.secrets_key.get_secret_value() if settings.secrets_key else None
    return KeySource(key, settings.secrets_key_file or default_key_file(settings.database_url))


def default_key_file(database_url: str) -> Path:
    """Next to a SQLite database file, else in pbxctl's configuration directory."""
    path = sqlite_file(database_url)
    if path is not None:
        return path.with_name(f"{path.name}.key")
    return DEFAULT_CONFIG_FILE.parent / "secrets.key"


def database_file_warning(database_url: str) -> str | None:
    """What to tell the operator when the SQLite file may be read by other users."""
    path = sqlite_file(database_url)
    try:
        wide = path is not None and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    except OSError:
        return None
    if not wide:
        return None
    return (f"Warning: the database {path} may be read by other users, and it holds the "
            f"phones' credentials: chmod 600 {path}")


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
