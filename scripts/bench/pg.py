"""The benchmark's PostgreSQL: a fresh database per data set, and the plain-COPY baseline."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

BASELINE_TABLE = "bench_copy_baseline"
BASE_COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
                "lastapp", "lastdata", "start", "answer", "end_", "duration", "billsec",
                "disposition", "amaflags")  # "end" is reserved in SQL


def database_url(admin_url: str, name: str, driver: str = "postgresql") -> str:
    """``admin_url`` pointing at database ``name``, with the scheme ``driver``."""
    parts = urlsplit(admin_url)._replace(scheme=driver, path=f"/{name}")
    return parts.geturl()


@contextmanager
def fresh_database(admin_url: str, prefix: str = "pbxctl_bench") -> Iterator[str]:
    """Create <prefix>_<random>, yield its name, drop it whatever happens."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}"'))
    print(f"database {name} created")
    try:
        yield name
    finally:
        asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        print(f"database {name} dropped")


async def _execute(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _version(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def server_version(url: str) -> str:
    """PostgreSQL's version string."""
    return asyncio.run(_version(url))


def checkpoint(url: str) -> None:
    """Flush dirty buffers so that no step pays for the previous one's writes."""
    asyncio.run(_execute(url, "CHECKPOINT"))


BASELINE_RUNS = 2
IMPORT_RUNS = 2   # `pbxctl cdr import` is timed as often, each into emptied tables
# What `pbxctl cdr import` writes: emptied between two timed imports of the same file.
IMPORT_TABLES = ("cdrs", "cost_totals", "cdr_quarantine")


def empty_import_tables(url: str) -> None:
    """Empty what an import wrote, so that the next import of the file stores every row
    again (TRUNCATE: new, empty files, as in a fresh database)."""
    asyncio.run(_execute(url, f"TRUNCATE {', '.join(IMPORT_TABLES)}"))


def copy_baseline(url: str, master_csv: Path, columns: int) -> tuple[float, int]:
    """COPY the file into an unindexed table of ``columns`` text columns; (seconds, rows)
    of the fastest of BASELINE_RUNS runs. The first COPY after PostgreSQL starts creates
    its WAL files (later ones recycle them) and took 3.3 s where the next took 2.0: the
    pbxctl steps, which come later, never pay that."""
    runs = [asyncio.run(_copy_baseline(url, master_csv, columns)) for _ in range(BASELINE_RUNS)]
    return min(runs)


async def _copy_baseline(url: str, master_csv: Path, columns: int) -> tuple[float, int]:
    names = [*BASE_COLUMNS, *(f"extra_{n}" for n in range(columns - len(BASE_COLUMNS)))]
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {BASELINE_TABLE}")
        await conn.execute(f"CREATE TABLE {BASELINE_TABLE} "
                           f"({', '.join(f'{name} text' for name in names)})")
        await conn.execute("CHECKPOINT")
        began = time.perf_counter()
        await conn.copy_to_table(BASELINE_TABLE, source=master_csv, format="csv")
        seconds = time.perf_counter() - began
        rows = await conn.fetchval(f"SELECT count(*) FROM {BASELINE_TABLE}")
    finally:
        await conn.close()
    return seconds, int(rows)
