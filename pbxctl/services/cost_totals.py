"""Running totals of outbound calls per department, currency and quarter hour (UTC): what
``report costs`` adds up, kept exact by every write to ``cdrs`` in the same transaction.

Only calls that count in a cost report count here: outbound, with billable seconds.
Priced calls add to ``calls``, ``billsec``, ``charged_seconds`` and ``cost``; calls no
deck priced add to ``unrated``. A re-priced call is taken away with its old price and
added with its new one. Three writers share these rules: ``CallTotals`` (calls in
Python), ``add_from_sql`` (calls a PostgreSQL statement has just inserted) and
``columnar.call_totals`` (blocks COPYed straight into ``cdrs``, re-rates).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import pyarrow as pa
from sqlalchemy import text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.billing.columnar import TOTALS_KEYS, TOTALS_SUMS, sum_by_key
from pbxctl.billing.periods import QUARTER_SECONDS, quarter_hour
from pbxctl.db.models import CostTotal

COLUMNS = (*TOTALS_KEYS, *TOTALS_SUMS)


class Call(Protocol):
    """What the totals need of a call (a stored row or a ``Cdr``)."""

    @property
    def start(self) -> datetime: ...
    @property
    def department(self) -> str: ...
    @property
    def direction(self) -> str: ...
    @property
    def billsec(self) -> int: ...
    @property
    def charged_seconds(self) -> int: ...
    @property
    def cost(self) -> Decimal: ...
    @property
    def currency(self) -> str | None: ...
    @property
    def unrated_reason(self) -> str | None: ...


class CallTotals:
    """Totals of calls added and taken away in Python, written by ``save``."""

    def __init__(self) -> None:
        self._sums: dict[tuple[int, str, str], list[Any]] = {}

    def add(self, call: Call, sign: int = 1) -> None:
        """Count ``call`` (``sign`` -1: take it away) if a cost report would."""
        if call.direction != "outbound" or call.billsec <= 0:
            return
        key = (quarter_hour(call.start), call.department, call.currency or "")
        sums = self._sums.setdefault(key, [0, 0, 0, Decimal(0), 0])
        if call.unrated_reason is None:
            sums[0] += sign
            sums[1] += sign * call.billsec
            sums[2] += sign * call.charged_seconds
            sums[3] += sign * call.cost
        else:
            sums[4] += sign

    async def save(self, session: AsyncSession) -> None:
        """Add the totals to the stored ones and start again from zero."""
        rows = [dict(zip(COLUMNS, (*key, *sums), strict=True))
                for key, sums in self._sums.items() if any(sums)]
        self._sums = {}
        await add_rows(session, rows)


async def add_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Add ``rows`` (COLUMNS, one per quarter hour, department and currency) to the
    stored totals."""
    if not rows:
        return
    # In key order, as ``add_from_sql`` does: concurrent writers lock the rows they add to
    # in the same order, so they wait for each other instead of deadlocking.
    rows = sorted(rows, key=lambda row: (row["quarter_hour"], row["department"],
                                         row["currency"]))
    if session.get_bind().dialect.name == "postgresql":
        # One statement over arrays: a month of quarter hours is tens of thousands of rows.
        columns = {name: [row[name] for row in rows] for name in COLUMNS}
        await session.execute(text(_PG_ADD_ARRAYS), columns)
        return
    statement = sqlite_insert(CostTotal)
    statement = statement.on_conflict_do_update(
        index_elements=list(TOTALS_KEYS),
        set_={name: getattr(CostTotal, name) + getattr(statement.excluded, name)
              for name in TOTALS_SUMS})
    await session.execute(statement, list(rows))


class UnwrittenTotals:
    """PostgreSQL: totals of rows stored column-wise (the columns of
    ``columnar.call_totals``, cost in units of 0.0001) kept until ``write`` adds them
    to the stored ones, in one statement on the driver's (asyncpg) connection. An
    import or re-rate writes them whenever the database would otherwise wait for its
    next rows, so that little is left for the end."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver
        self._tables: list[pa.Table] = []

    def add(self, totals: pa.Table | None) -> None:
        """Keep ``totals`` (one row per key, as ``columnar.sum_by_key`` gives) for the next
        ``write``."""
        if totals is not None and totals.num_rows:
            self._tables.append(totals)

    async def write(self) -> None:
        """Add the totals kept so far to the stored ones."""
        if not self._tables:
            return
        summed = (self._tables[0] if len(self._tables) == 1
                  else sum_by_key(pa.concat_tables(self._tables)))
        self._tables = []
        # In key order, as ``add_rows`` writes (Arrow compares strings byte-wise, as
        # Python does).
        ordered = summed.sort_by([(name, "ascending") for name in TOTALS_KEYS])
        await self._driver.execute(_PG_ADD_UNITS,
                                   *(ordered[name].to_pylist() for name in COLUMNS))


_PG_ADD_UNITS = (
    f"INSERT INTO cost_totals AS t ({', '.join(COLUMNS)}) "
    f"SELECT {', '.join(TOTALS_KEYS)}, calls, billsec, charged_seconds, cost * 0.0001, "
    "unrated FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], "
    "$5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[]) "
    f"AS u ({', '.join(COLUMNS)}) "
    "ON CONFLICT (quarter_hour, department, currency) DO UPDATE SET "
    + ", ".join(f"{name} = t.{name} + EXCLUDED.{name}" for name in TOTALS_SUMS))
_PG_ADD_ARRAYS = (
    f"INSERT INTO cost_totals AS t ({', '.join(COLUMNS)}) SELECT * FROM unnest("
    "CAST(:quarter_hour AS bigint[]), CAST(:department AS text[]), "
    "CAST(:currency AS text[]), CAST(:calls AS bigint[]), CAST(:billsec AS bigint[]), "
    "CAST(:charged_seconds AS bigint[]), CAST(:cost AS numeric[]), "
    "CAST(:unrated AS bigint[])) "
    "ON CONFLICT (quarter_hour, department, currency) DO UPDATE SET "
    + ", ".join(f"{name} = t.{name} + EXCLUDED.{name}" for name in TOTALS_SUMS))


def add_from_sql(source: str) -> str:
    """PostgreSQL: a statement adding to the totals the calls of ``source``, a relation
    (a CTE) with the columns of ``cdrs``."""
    rated = "unrated_reason IS NULL"
    return (
        f"INSERT INTO cost_totals AS t ({', '.join(COLUMNS)}) "
        f"SELECT floor(extract(epoch FROM start) / {QUARTER_SECONDS})::bigint, department, "
        "coalesce(currency, ''), "
        f"count(*) FILTER (WHERE {rated}), "
        f"coalesce(sum(billsec) FILTER (WHERE {rated}), 0), "
        f"coalesce(sum(charged_seconds) FILTER (WHERE {rated}), 0), "
        f"coalesce(sum(cost) FILTER (WHERE {rated}), 0), "
        f"count(*) FILTER (WHERE NOT {rated}) "
        f"FROM {source} WHERE direction = 'outbound' AND billsec > 0 "
        "GROUP BY 1, 2, 3 "
        # in the order add_rows writes in (byte-wise, as Python sorts strings)
        """ORDER BY 1, department COLLATE "C", coalesce(currency, '') COLLATE "C" """
        "ON CONFLICT (quarter_hour, department, currency) DO UPDATE SET "
        + ", ".join(f"{name} = t.{name} + EXCLUDED.{name}" for name in TOTALS_SUMS))
