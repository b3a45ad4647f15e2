"""Inserting rows that may already be there, on SQLite and PostgreSQL, safe when another
transaction stores the same rows at the same moment.

Nothing here looks for existing rows first and inserts the rest: between the look and the
insert another writer (the live AMI link, a catch-up, a second ``serve``) may store the
same key, and the insert would fail. Every path ends in ``INSERT … ON CONFLICT DO
NOTHING``, which the database decides atomically, and counts what it really inserted.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from asyncpg import UniqueViolationError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

_IDENTIFIER_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_COPIED_RE = re.compile(r"COPY (\d+)")
_UPDATED_RE = re.compile(r"UPDATE (\d+)")
_Result = TypeVar("_Result")
# COPY data goes to the server in pieces of this size, each when the connection can take
# it. Handed over whole, a block's megabytes wait in asyncio's send buffer, which is
# shifted down after every send: a memmove of the rest each time, 0.4 s of CPU for a
# million rows.
COPY_PIECE_BYTES = 256 * 1024


async def _insert_returning(session: AsyncSession, model: Any,
                            rows: Sequence[dict[str, Any]], conflict_columns: Sequence[str]
                            ) -> list[Any]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the first conflict column: one value per
    row really inserted."""
    if not rows:
        return []
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(model).on_conflict_do_nothing(
        index_elements=list(conflict_columns)).returning(getattr(model, conflict_columns[0]))
    connection = await session.connection()
    return [row[0] for row in (await connection.execute(statement, list(rows))).all()]


async def insert_ignoring(session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]],
                          conflict_columns: Sequence[str]) -> int:
    """Insert the rows that do not clash on ``conflict_columns``; returns how many were
    inserted (rows already stored, by anybody, are not counted)."""
    return len(await _insert_returning(session, model, rows, conflict_columns))


async def insert_new_keys(session: AsyncSession, model: Any,
                          rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the rows whose unique ``key`` is not stored yet; returns their keys."""
    return set(await _insert_returning(session, model, rows, ["key"]))


class PgStaging:
    """Bulk rows into a PostgreSQL table through a temporary staging table: ``COPY`` into
    the stage (the fast part), then ``INSERT … SELECT … ON CONFLICT (key) DO NOTHING``.

    The stage lives in the connection's temporary schema and is emptied at commit, so
    concurrent writers never see each other's staged rows.
    """

    def __init__(self, driver: Any, table: str, columns: Sequence[str],
                 after_write: Callable[[str], str] | None = None) -> None:
        for name in (table, *columns):
            if not _IDENTIFIER_RE.fullmatch(name):
                raise ValueError(f"not a plain SQL identifier: {name!r}")
        self._driver = driver
        self._table = table
        self._stage = f"pbxctl_stage_{table}"
        self._columns = list(columns)
        self._names = ", ".join(f'"{name}"' for name in columns)  # "end" is a keyword
        self._direct = True
        # SQL run in the same statement on the rows inserted, given as a relation with
        # the table's columns.
        self._after_write = after_write

    async def _through_stage(self, copy: Callable[[], Awaitable[object]],
                             run: Callable[[], Awaitable[_Result]]) -> _Result:
        """Create the stage when missing, ``copy`` into it, ``run`` a statement over it
        (its result returned) and empty the stage. A failure aborts the transaction,
        whose rollback empties the stage too."""
        await self._driver.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {self._stage} ON COMMIT DELETE ROWS AS "
            f"SELECT {self._names} FROM {self._table} WITH NO DATA")
        await copy()
        result = await run()
        await self._driver.execute(f"TRUNCATE {self._stage}")
        return result

    def _insert(self, result: str) -> str:
        """Insert the staged rows whose key is new; the statement returns ``result`` over
        them (``key``: one row each; ``count(*)``: one row)."""
        insert = (f"INSERT INTO {self._table} ({self._names}) SELECT {self._names} "
                  f"FROM {self._stage} ON CONFLICT (key) DO NOTHING RETURNING *")
        after = ("" if self._after_write is None else
                 f", after_write AS "
                 f"({self._after_write('inserted')})")
        return f"WITH inserted AS ({insert}){after} SELECT {result} FROM inserted"

    async def records(self, rows: Iterable[Sequence[object]]) -> set[str]:
        """Stage Python tuples (in ``columns`` order); returns the keys that were new."""
        inserted = await self._through_stage(
            lambda: self._driver.copy_records_to_table(self._stage, records=rows,
                                                       columns=self._columns),
            lambda: self._driver.fetch(self._insert("key")))
        return {record[0] for record in inserted}

    async def update_csv(self, data: bytes | memoryview) -> int:
        """Set the other ``columns`` of the rows whose ``key`` (the first column) is in the
        CSV; returns how many rows were updated."""
        key, *rest = self._columns
        assignments = ", ".join(f'"{name}" = s."{name}"' for name in rest)
        update = (f'UPDATE {self._table} AS t SET {assignments} FROM {self._stage} AS s '
                  f'WHERE t."{key}" = s."{key}"')
        status = await self._through_stage(
            lambda: self._driver.copy_to_table(self._stage, source=_pieces(data),
                                               columns=self._columns, format="csv"),
            lambda: self._driver.execute(update))
        return _count(_UPDATED_RE, status)

    async def copy(self, data: bytes | memoryview, rows: int,
                   on_direct: Callable[[], None] | None = None) -> int:
        """Store rows already written as binary ``COPY`` data (``columns`` order, typed as
        the table's columns); returns how many were new.

        The rows are COPYed straight into the table inside a savepoint: when a key is
        already there (a re-import, a call the live link stored, a repeat in the file)
        the savepoint is rolled back and the rows go through the stage instead, which
        skips the known keys. After a block with repeats the next one goes through the
        stage too, until a block comes with none. ``on_direct`` is called when the COPY
        stored every row (the stage path runs ``after_write`` instead)."""
        if self._direct:
            await self._driver.execute("SAVEPOINT pbxctl_copy")
            try:
                status = await self._driver.copy_to_table(
                    self._table, source=_pieces(data), columns=self._columns,
                    format="binary")
            except UniqueViolationError:
                await self._driver.execute("ROLLBACK TO SAVEPOINT pbxctl_copy")
            else:
                await self._driver.execute("RELEASE SAVEPOINT pbxctl_copy")
                if on_direct is not None:
                    on_direct()
                return _count(_COPIED_RE, status)
        counted = await self._through_stage(
            lambda: self._driver.copy_to_table(self._stage, source=_pieces(data),
                                               columns=self._columns, format="binary"),
            lambda: self._driver.fetchval(self._insert("count(*)")))
        inserted = int(counted)
        self._direct = inserted == rows
        return inserted


async def _pieces(data: bytes | memoryview) -> AsyncIterator[memoryview]:
    """``data`` in COPY_PIECE_BYTES views (asyncpg sends each when the socket drained)."""
    view = memoryview(data)
    for begin in range(0, len(view), COPY_PIECE_BYTES):
        yield view[begin:begin + COPY_PIECE_BYTES]


def _count(pattern: re.Pattern[str], status: str) -> int:
    matched = pattern.fullmatch(status)
    if matched is None:
        raise RuntimeError(f"unexpected status {status!r}")
    return int(matched.group(1))
