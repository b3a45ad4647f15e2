"""Rows priced column-wise reach cdrs through a binary COPY exactly: times in UTC, NULL
apart from an empty string, amounts to the last of their four places."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.billing.binary_copy import binary_copy
from pbxctl.billing.columnar import STORED_SCHEMA
from pbxctl.billing.records import STORED_COLUMNS
from pbxctl.db.models import Cdr

ROWS = [
    {"key": "local:1795460606.10:1", "node": "local",
     "start": datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC), "answer": None,
     "end": datetime(2026, 11, 1, 0, 0, 30, tzinfo=UTC), "src": "201", "dst": "+7843",
     "channel": "PJSIP/201-01", "dstchannel": "PJSIP/tele2-02", "disposition": "NO ANSWER",
     "duration": 31, "billsec": 0, "department": "", "uniqueid": "1795460606.10",
     "direction": "outbound", "carrier": "tele2", "destination": "+7843",
     "charged_seconds": 0, "cost": Decimal("0.0000"), "currency": None, "prefix": None,
     "deck_id": None, "unrated_reason": None},
    {"key": "local:row:20261001000000:ab", "node": "local",
     "start": datetime(2026, 10, 1, tzinfo=UTC), "answer": datetime(2026, 10, 1, tzinfo=UTC),
     "end": datetime(2026, 10, 1, 2, 46, 39, tzinfo=UTC), "src": "Анна", "dst": "",
     "channel": "", "dstchannel": "PJSIP/mts-03", "disposition": "ANSWERED",
     "duration": 9999999, "billsec": 9999999, "department": "kazan", "uniqueid": "",
     "direction": "outbound", "carrier": "mts", "destination": "+46701234567",
     "charged_seconds": 9999999, "cost": Decimal("9999999999.9999"), "currency": "RUB",
     "prefix": "46", "deck_id": 2147483647, "unrated_reason": None},
]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_binary_copy_stores_the_values_as_they_are(session: AsyncSession) -> None:
    table = pa.Table.from_pylist(ROWS, schema=STORED_SCHEMA)
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    status = await driver.copy_to_table("cdrs", source=memoryview(binary_copy(table)),
                                        columns=list(STORED_COLUMNS), format="binary")
    assert status == "COPY 2"
    stored = (await session.scalars(select(Cdr).order_by(Cdr.key))).all()
    assert [{name: getattr(cdr, name) for name in STORED_COLUMNS} for cdr in stored] == ROWS
