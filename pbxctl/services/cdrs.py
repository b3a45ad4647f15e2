"""Storing CDRs without loss or double counting: file backfill, live events, re-rating."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pbxctl.ami_events import CdrReported
from pbxctl.billing.block_import import PreparedBlock, read_block
from pbxctl.billing.block_workers import WORKERS, BlockWorkers
from pbxctl.billing.columnar import ColumnarClassifier
from pbxctl.billing.csv_blocks import (
    BLOCK_BYTES,
    FIRST_BLOCK_BYTES,
    blocks,
    complete_rows,
    read_csv_text,
    table_csv,
)
from pbxctl.billing.rate_table import MICROS
from pbxctl.billing.rating import Deck, Rate, RateBook
from pbxctl.billing.records import (
    STORED_COLUMNS,
    Classifier,
    Quarantined,
    Rating,
    StoredCdr,
    cdr_key,
    check,
)
from pbxctl.billing.rerating import RERATED_COLUMNS, STORED_PRICE_COLUMNS, rerate
from pbxctl.db.bulk import PgStaging, insert_ignoring, insert_new_keys
from pbxctl.db.models import Carrier, Cdr, QuarantinedCdr, RateDeck
from pbxctl.db.models import Rate as RateRow
from pbxctl.services.cost_totals import CallTotals, UnwrittenTotals, add_from_sql
from pbxctl.webhooks.events import cdr_rated_event
from pbxctl.webhooks.outbox import enqueue

BATCH_ROWS = 50_000
STREAM_BYTES = 8 * 1024 * 1024
PG_COPY_MIN_ROWS = 100
# Chunks the re-rate prices at once, beside the one being written. One: on two cores
# the database's UPDATE keeps the other busy, and a second thread only fought the first
# for the interpreter (measured: more CPU, no less time).
RERATE_THREADS = 1
RERATE_LOCK = 0x7062786374_01   # pg_advisory_xact_lock key: "pbxct", 1
Progress = Callable[[int], None]


@dataclass
class ImportSummary:
    """What an import or a live session stored."""

    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    outbound: int = 0
    unrated: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


async def load_rate_book(session: AsyncSession) -> tuple[RateBook, frozenset[str]]:
    """Every deck of every carrier, and the carrier names (read as plain rows: a long deck
    has tens of thousands of rates)."""
    carriers, decks = await _carriers_and_decks(session)
    rates: dict[int, list[Rate]] = {deck_id: [] for deck_id, *_ in decks}
    # The table's columns, not the model's: no ORM loading for tens of thousands of rows;
    # on PostgreSQL through the driver itself (a third of the time for a long deck).
    table = RateRow.__table__.c
    query = select(table.deck_id, table.prefix, table.destination, table.rate_per_minute,
                   table.connect_fee, table.min_seconds, table.increment_seconds)
    dialect = session.get_bind().dialect
    rows: Sequence[Sequence[Any]] = (
        await (await _driver(session)).fetch(str(query.compile(dialect=dialect)))
        if dialect.name == "postgresql" else (await session.execute(query)).all())
    for deck_id, *fields in rows:
        rates[deck_id].append(Rate(*fields))
    return _book(decks, lambda deck_id: rates[deck_id]), carriers


async def load_rate_columns(session: AsyncSession
                            ) -> tuple[RateBook, frozenset[str], pa.Table]:
    """PostgreSQL: ``load_rate_book``, with every rate read as columns (RATE_COLUMNS, in
    one COPY): a deck's ``Rate`` objects are made only if rows are rated one by one
    (a long deck took 0.4 s as objects)."""
    carriers, decks = await _carriers_and_decks(session)
    data: list[bytes] = []

    async def take(chunk: bytes) -> None:
        data.append(chunk)

    await (await _driver(session)).copy_from_query(
        f"SELECT {', '.join(_RATE_QUERY_COLUMNS.values())} FROM rates", output=take,
        format="csv")
    names = list(_RATE_QUERY_COLUMNS)
    text = (read_csv_text(b"".join(data), names) if data else   # else no rate at all
            pa.table({name: pa.array([], pa.string()) for name in names}))
    rates = text.cast(pa.schema([(name, pa.int64() if name in _RATE_INTEGERS else pa.string())
                                 for name in names]))

    def deck_rates(deck_id: int) -> Callable[[], list[Rate]]:
        def made() -> list[Rate]:
            rows = rates.filter(pc.equal(rates["deck_id"], deck_id))
            return [Rate(prefix, destination or "", Decimal(rate), Decimal(fee), low, step)
                    for prefix, destination, rate, fee, low, step in zip(*(
                        rows[name].to_pylist() for name in _RATE_FIELDS), strict=True)]
        return made

    return _book(decks, deck_rates), carriers, rates


# What load_rate_columns reads: ``Rate``'s fields and RATE_COLUMNS.
_RATE_FIELDS = ("prefix", "destination", "rate_per_minute", "connect_fee", "min_seconds",
                "increment_seconds")
_RATE_QUERY_COLUMNS = {
    "deck_id": "deck_id", **{name: name for name in _RATE_FIELDS},
    "rate_micros": f"(rate_per_minute * {MICROS})::bigint AS rate_micros",
    "fee_micros": f"(connect_fee * {MICROS})::bigint AS fee_micros"}
_RATE_INTEGERS = {"deck_id", "min_seconds", "increment_seconds", "rate_micros", "fee_micros"}


async def _carriers_and_decks(session: AsyncSession
                              ) -> tuple[frozenset[str], Sequence[Sequence[Any]]]:
    """The carrier names, and each deck's id, first day, carrier and currency."""
    carriers = (await session.scalars(select(Carrier.slug))).all()
    decks = (await session.execute(
        select(RateDeck.id, RateDeck.valid_from, Carrier.slug, Carrier.currency)
        .join(Carrier, RateDeck.carrier_id == Carrier.id))).all()
    return frozenset(carriers), decks


def _book(decks: Sequence[Sequence[Any]],
          rates: Callable[[int], list[Rate] | Callable[[], list[Rate]]]) -> RateBook:
    by_carrier: dict[str, list[Deck]] = {}
    for deck_id, valid_from, carrier, currency in decks:
        by_carrier.setdefault(carrier, []).append(
            Deck(deck_id, valid_from, currency, rates(deck_id)))
    return RateBook(by_carrier)


async def _driver(session: AsyncSession) -> Any:
    """The session's own connection as the driver (asyncpg) sees it, for COPY and for
    reading many rows without SQLAlchemy's per-row work; inside the session's
    transaction. (SQLAlchemy begins it on the connection only when it first executes a
    statement itself: sent straight to the driver before that, each statement was a
    transaction of its own, and a staging table was emptied at the end of its COPY.)"""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        await connection.exec_driver_sql("SELECT 1")    # begins it, as any statement does
    return driver


class CdrStore:
    """Writes classified, rated CDRs; a key seen before is skipped, never counted twice.

    A file is read in blocks of ``block_bytes``, so memory does not grow with the file. On
    PostgreSQL each block is parsed and priced column-wise in a worker thread while the
    previous one is COPYed; elsewhere, and for the rows the columnar checks leave out,
    rows are classified one by one.
    """

    def __init__(self, session: AsyncSession, block_bytes: int = BLOCK_BYTES) -> None:
        self._session = session
        self._block_bytes = block_bytes

    async def classifier(self) -> Classifier:
        """A classifier with the current carriers and decks."""
        book, carriers = await load_rate_book(self._session)
        return Classifier(carriers, book)

    async def import_master_csv(self, data: bytes | BinaryIO, source: str, node: str,
                                progress: Progress | None = None,
                                announce: bool = False) -> ImportSummary:
        """Backfill from a cdr_csv file (its bytes, or a binary stream read block by
        block); bad lines go to quarantine, the rest is stored. ``progress`` hears the
        bytes done. With ``announce``, each call stored queues a ``cdr.rated`` webhook
        event, as a call stored live does (the catch-up of calls the live link missed)."""
        stream = io.BytesIO(data) if isinstance(data, bytes) else data
        quarantine: list[Quarantined] = []
        if not announce and self._session.get_bind().dialect.name == "postgresql":
            book, carriers, rates = await load_rate_columns(self._session)
            summary = await self._import_columnar(
                stream, node, ColumnarClassifier(carriers, book, rates),
                Classifier(carriers, book), quarantine, progress)
        else:
            summary = await self._import_rows(stream, node, await self.classifier(),
                                              quarantine, progress, announce)
        await self._quarantine(quarantine, source)
        summary.quarantined = len(quarantine)
        for item in quarantine:
            summary.reasons[item.reason] = summary.reasons.get(item.reason, 0) + 1
        # The BRIN index's new ranges and the statistics are left to autovacuum
        # (``autosummarize``): until then a query for a day reads the new pages too.
        return summary

    async def _import_rows(self, stream: BinaryIO, node: str, classifier: Classifier,
                           quarantine: list[Quarantined], progress: Progress | None,
                           announce: bool) -> ImportSummary:
        """Classify row by row and store in batches (SQLite, and catch-ups)."""
        summary = ImportSummary()
        for block in blocks(stream, self._block_bytes):
            batch: list[StoredCdr] = []
            for item in read_block(block, node, classifier):
                summary.rows += 1
                if isinstance(item, Quarantined):
                    quarantine.append(item)
                    continue
                batch.append(item)
                if len(batch) >= BATCH_ROWS:
                    await self._flush(batch, summary, announce)
                    batch = []
            await self._flush(batch, summary, announce)
            if progress:
                progress(len(block.data))
        summary.unrated = classifier.unrated
        return summary

    async def _import_columnar(self, stream: BinaryIO, node: str, columnar: ColumnarClassifier,
                               classifier: Classifier, quarantine: list[Quarantined],
                               progress: Progress | None) -> ImportSummary:
        """Parse and price the next blocks in worker processes while the one before is
        COPYed (each block's memory shared with them is released once it is stored)."""
        summary = ImportSummary()
        driver = await _driver(self._session)
        staging = PgStaging(driver, "cdrs", STORED_COLUMNS, after_write=add_from_sql)
        chunks = blocks(stream, self._block_bytes)
        workers = BlockWorkers(columnar, classifier, self._block_bytes)
        ahead: deque[asyncio.Future[PreparedBlock]] = deque()   # in the file's order

        async def prepare_ahead() -> None:
            while len(ahead) < WORKERS:
                block = await asyncio.to_thread(next, chunks, None)   # the file, off the loop
                if block is None:
                    return
                ahead.append(workers.prepare(block, node))

        totals = UnwrittenTotals(driver)     # of the blocks COPYed straight into cdrs
        try:
            await prepare_ahead()
            while ahead:
                ready = await ahead.popleft()
                await prepare_ahead()
                stored = ready.priced_rows + len(ready.rows)
                inserted = (await staging.copy(
                    ready.priced_copy, ready.priced_rows,
                    on_direct=partial(totals.add, ready.totals))
                    if ready.priced_rows else 0)
                workers.release(ready)
                if ready.rows:
                    inserted += len(await staging.records(ready.rows))
                summary.rows += stored + len(ready.quarantine)
                summary.inserted += inserted
                summary.duplicates += stored - inserted
                summary.outbound += ready.outbound
                summary.unrated += ready.unrated
                quarantine += ready.quarantine
                if progress:
                    progress(ready.size)
                if ahead and not ahead[0].done():   # the database would wait meanwhile
                    await totals.write()
        finally:
            if ahead:
                await asyncio.wait(ahead)
            workers.close()
        await totals.write()
        return summary

    async def store_events(self, node: str, events: Sequence[CdrReported],
                           classifier: Classifier) -> list[StoredCdr | None]:
        """Store call records reported live, in one statement; for each, the stored row,
        or None when it was already stored (or repeated in ``events``, or unusable)."""
        rows: list[StoredCdr | None] = []
        unusable: list[Quarantined] = []
        for event in events:
            cols = list(event.columns)
            times = check(cols)
            if isinstance(times, str):
                unusable.append(Quarantined(0, times, ",".join(cols)))
                rows.append(None)
                continue
            rows.append(classifier.row(node, cols, cdr_key(node, cols), times))
        await self._quarantine(unusable, f"ami:{node}")
        new = await self._insert_ignoring_duplicates(
            list({row.key: row for row in rows if row is not None}.values()))
        stored: list[StoredCdr | None] = []
        for row in rows:
            if row is not None and row.key in new:
                new.discard(row.key)      # a key twice in ``events`` is stored once
                stored.append(row)
            else:
                stored.append(None)
        return stored

    async def _flush(self, batch: list[StoredCdr], summary: ImportSummary,
                     announce: bool) -> None:
        if not batch:
            return
        unique = list({row.key: row for row in batch}.values())
        inserted = await self._insert_ignoring_duplicates(unique)
        if announce:
            await enqueue(self._session, [
                cdr_rated_event(row._asdict()) for row in unique if row.key in inserted])
        summary.inserted += len(inserted)
        summary.duplicates += len(batch) - len(inserted)
        summary.outbound += sum(1 for row in batch if row.direction == "outbound")

    async def _insert_ignoring_duplicates(self, rows: Sequence[StoredCdr]) -> set[str]:
        """Insert the rows whose key is new; returns their keys. A row another writer
        stores at the same moment is skipped, not an error."""
        if self._session.get_bind().dialect.name == "postgresql" and len(rows) >= PG_COPY_MIN_ROWS:
            driver = await _driver(self._session)
            return await PgStaging(driver, "cdrs", STORED_COLUMNS,
                                   after_write=add_from_sql).records(rows)
        inserted = await insert_new_keys(self._session, Cdr, [row._asdict() for row in rows])
        totals = CallTotals()
        for row in rows:
            if row.key in inserted:
                totals.add(row)
        await totals.save(self._session)
        return inserted

    async def _quarantine(self, items: list[Quarantined], source: str) -> None:
        rows = [{"source": source[:255], "line": q.line, "reason": q.reason[:255],
                 "raw": q.raw[:4000],
                 "raw_hash": hashlib.sha256(q.raw.encode()).hexdigest()} for q in items]
        await insert_ignoring(self._session, QuarantinedCdr, rows,
                              ["source", "line", "raw_hash"])

    async def rerate(self, start: datetime, end: datetime,
                     carrier: str | None = None) -> ImportSummary:
        """Price again every outbound call in [start, end) with the decks as they are now;
        ``inserted`` counts the calls whose price changed."""
        if self._session.get_bind().dialect.name == "postgresql":
            return await self._rerate_columnar(start, end, carrier)
        classifier = await self.classifier()
        query = select(Cdr).where(Cdr.direction == "outbound", Cdr.start >= start,
                                  Cdr.start < end)
        if carrier is not None:
            query = query.where(Cdr.carrier == carrier)
        summary = ImportSummary()
        totals = CallTotals()
        for cdr in (await self._session.scalars(query)).all():
            assert cdr.carrier is not None and cdr.destination is not None
            rating = classifier.rate(cdr.carrier, cdr.destination,
                                     cdr.start.date().isoformat(), cdr.billsec)
            summary.rows += 1
            if rating != Rating(cdr.charged_seconds, cdr.cost, cdr.currency, cdr.prefix,
                                cdr.deck_id, cdr.unrated_reason):
                totals.add(cdr, -1)
                for name, value in rating._asdict().items():
                    setattr(cdr, name, value)
                totals.add(cdr)
                summary.inserted += 1
        await self._session.flush()
        await totals.save(self._session)
        summary.unrated = classifier.unrated
        return summary

    async def _rerate_columnar(self, start: datetime, end: datetime, carrier: str | None
                               ) -> ImportSummary:
        """Three stages at once: a second connection COPYs the calls out as a stream
        (starting while this one loads the decks), threads price them column-wise a few
        MiB at a time, and this transaction writes the changed prices (COPY into a
        stage, one UPDATE per chunk; the cost totals whenever it would otherwise wait,
        and at the end) while the next chunks are read and priced; memory holds a few
        chunks. The reader sees what was
        committed, as this transaction does until it writes: when it has written
        already (calls it stored itself), the calls are read on its own connection
        first and written after, and memory holds the changed prices."""
        driver = await _driver(self._session)
        summary = ImportSummary()
        staging = PgStaging(driver, "cdrs", RERATED_COLUMNS)
        totals = UnwrittenTotals(driver)
        loop = asyncio.get_running_loop()
        pricers = ThreadPoolExecutor(RERATE_THREADS, thread_name_prefix="pbxctl-rerate")
        own_writes = await driver.fetchval(
            "SELECT pg_current_xact_id_if_assigned() IS NOT NULL")
        priced: asyncio.Queue[asyncio.Future[RepricedChunk] | None] = asyncio.Queue(
            0 if own_writes else RERATE_THREADS)

        async def load_classifier() -> ColumnarClassifier:
            book, carriers, rates = await load_rate_columns(self._session)
            return await loop.run_in_executor(pricers, ColumnarClassifier, carriers, book,
                                              rates)

        classifier: asyncio.Future[ColumnarClassifier]

        async def price_in_thread(data: bytes) -> None:
            columnar = await classifier
            await priced.put(loop.run_in_executor(pricers, reprice_chunk, columnar, data))

        async def read_and_price() -> None:
            if own_writes:
                await stream_stored_prices(driver, start, end, carrier, price_in_thread)
            else:
                bind = self._session.bind
                assert isinstance(bind, AsyncEngine)
                async with bind.connect() as reading:
                    reader = (await reading.get_raw_connection()).driver_connection
                    await stream_stored_prices(reader, start, end, carrier, price_in_thread)
            await priced.put(None)

        async def next_chunk() -> asyncio.Future[RepricedChunk] | None:
            """The next chunk's pricing; while the database would wait for it, the cost
            totals so far are written."""
            try:
                following = priced.get_nowait()
            except asyncio.QueueEmpty:
                await totals.write()
                return await priced.get()
            if following is not None and not following.done():
                await totals.write()
            return following

        async def write_changes() -> None:
            while (pending := await next_chunk()) is not None:
                chunk = await pending
                summary.rows += chunk.rows
                summary.unrated += chunk.unrated
                if chunk.changed_rows:
                    summary.inserted += await staging.update_csv(chunk.changed_csv)
                    totals.add(chunk.totals)
            await totals.write()

        # One re-rate at a time: the cost totals take away each call's price as read
        # here, which nobody else may change before the UPDATE.
        await driver.execute("SELECT pg_advisory_xact_lock($1)", RERATE_LOCK)
        try:
            if own_writes:      # one connection: the decks, then the calls
                classifier = asyncio.ensure_future(load_classifier())
                await classifier
                await read_and_price()
                await write_changes()
            else:
                async with asyncio.TaskGroup() as stages:
                    classifier = stages.create_task(load_classifier())
                    stages.create_task(read_and_price())
                    stages.create_task(write_changes())
        finally:
            pricers.shutdown(cancel_futures=True)
        return summary


@dataclass
class RepricedChunk:
    """A chunk of stored calls priced again: how many, how many no deck priced, the
    changed prices as CSV (RERATED_COLUMNS) and their effect on the cost totals."""

    rows: int
    unrated: int
    changed_rows: int
    changed_csv: memoryview
    totals: pa.Table


def reprice_chunk(columnar: ColumnarClassifier, data: bytes) -> RepricedChunk:
    """Price a chunk of ``stream_stored_prices``' CSV again (pure; run in a thread)."""
    stored = read_csv_text(data, STORED_PRICE_COLUMNS)
    rerated = rerate(columnar, stored)
    return RepricedChunk(stored.num_rows, rerated.unrated, rerated.changed.num_rows,
                         table_csv(rerated.changed), rerated.totals)


async def stream_stored_prices(driver: Any, start: datetime, end: datetime,
                               carrier: str | None,
                               consume: Callable[[bytes], Awaitable[None]]) -> None:
    """Hand ``consume`` the outbound calls in [start, end) (of ``carrier`` when given) as
    CSV in STORED_PRICE_COLUMNS order, whole rows at a time, about STREAM_BYTES each
    (the first about FIRST_BLOCK_BYTES, so that the next stages start early);
    ``start`` is the call's UTC time, ``YYYY-MM-DD HH:MM:SS[.ffffff]``."""
    # The start as a UTC timestamp without zone: text in one format whatever the
    # session's TimeZone, and cheaper for the server than to_char() and extract().
    computed = {"start": "start AT TIME ZONE 'UTC'"}
    columns = ", ".join(computed.get(name, f'"{name}"') for name in STORED_PRICE_COLUMNS)
    query = (f"SELECT {columns} FROM cdrs WHERE direction = 'outbound' "
             "AND start >= $1 AND start < $2 AND ($3::text IS NULL OR carrier = $3)")
    pending = bytearray()
    want = min(STREAM_BYTES, FIRST_BLOCK_BYTES)

    async def take(chunk: bytes) -> None:
        nonlocal want
        pending.extend(chunk)
        if len(pending) >= want:
            cut = complete_rows(pending)
            await consume(bytes(pending[:cut]))
            del pending[:cut]
            want = STREAM_BYTES

    await driver.copy_from_query(query, start, end, carrier, output=take, format="csv")
    if pending:
        await consume(bytes(pending))


async def unrated_calls(session: AsyncSession, start: datetime, end: datetime
                        ) -> Sequence[Cdr]:
    """Outbound calls in [start, end) that no deck could price."""
    return (await session.scalars(
        select(Cdr).where(Cdr.direction == "outbound", Cdr.unrated_reason.is_not(None),
                          Cdr.start >= start, Cdr.start < end).order_by(Cdr.start))).all()


async def quarantined(session: AsyncSession, source: str | None = None
                      ) -> Sequence[QuarantinedCdr]:
    """Quarantined lines, newest first."""
    query = select(QuarantinedCdr).order_by(QuarantinedCdr.id.desc())
    if source is not None:
        query = query.where(QuarantinedCdr.source == source)
    return (await session.scalars(query)).all()


