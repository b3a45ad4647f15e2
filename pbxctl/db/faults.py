"""Which storage failures are worth trying again, and how long to wait before each try."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import asyncpg
from sqlalchemy import exc as sa_exc

# SQLSTATE classes of a PostgreSQL failure that goes away by itself: connection exception,
# transaction rollback (deadlock, serialization), insufficient resources (disk full, too
# many connections), operator intervention (shutdown, starting up), system error.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_TRANSIENT_SQLITE_WORDS = ("locked", "busy", "disk", "i/o", "unable to open")


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__,
                 getattr(current, "orig", None)]


def is_transient(error: BaseException) -> bool:
    """A failure of the database or the way to it (connection lost or refused, server
    restarting, deadlock, disk full, SQLite locked), not of the data or the code."""
    for cause in _causes(error):
        if isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, OSError | TimeoutError | sa_exc.TimeoutError
                      | sa_exc.DisconnectionError | asyncpg.InterfaceError):
            return True
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(cause, asyncpg.PostgresError) and isinstance(sqlstate, str) \
                and sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES:
            return True
        if isinstance(cause, sqlite3.OperationalError) and any(
                word in str(cause).lower() for word in _TRANSIENT_SQLITE_WORDS):
            return True
    return False


@dataclass(frozen=True)
class StoragePolicy:
    """How ``serve`` keeps trying to store what a node reports."""

    first_delay: float = 0.1
    max_delay: float = 5.0
    give_up_after: float = 30.0   # a CDR unstored this long is left to the Master.csv catch-up
    stop_grace: float = 10.0      # when stopping, how long to keep trying
    max_pending: int = 20_000     # writes held in memory while storage is down (~60 MB)

    def delay(self, failures: int,
              uniform: Callable[[float, float], float] = random.uniform) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (with jitter)."""
        ceiling = min(self.max_delay, self.first_delay * 2 ** min(failures - 1, 30))
        return uniform(ceiling / 2, ceiling)


DEFAULT_STORAGE = StoragePolicy()
