"""Fail early, with the fix, when the PostgreSQL the tests need is not running."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

URL = os.environ.get("PBXCTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def main() -> int:
    try:
        conn = await asyncpg.connect(URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"PostgreSQL did not answer at {URL}: {exc}\n"
              "The tests need it (they run on SQLite and PostgreSQL). Fix: start it, e.g.\n"
              "  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"
              "or set PBXCTL_TEST_PG to a server where this user may CREATE DATABASE.",
              file=sys.stderr)
        return 1
    version = await conn.fetchval("SHOW server_version")
    await conn.close()
    print(f"PostgreSQL {version} at {URL}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
