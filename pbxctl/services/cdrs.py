"""Storing CDRs without loss or double counting: file backfill, live events, re-rating."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl.ami_events import CdrReported
from pbxctl.billing.copy_text import classify_shared_slice, share_with_workers
from pbxctl.billing.rating import Deck, Rate, RateBook
from pbxctl.billing.records import (
    STORED_COLUMNS,
    Classifier,
    Quarantined,
    Rating,
    StoredCdr,
    cdr_key,
    check,
    prepare_lines,
    read_master_csv,
)
from pbxctl.db.bulk import PgStaging, insert_ignoring, insert_new_keys
from pbxctl.db.models import Carrier, Cdr, QuarantinedCdr, RateDeck
from pbxctl.webhooks.events import cdr_rated_event
from pbxctl.webhooks.outbox import enqueue

BATCH_ROWS = 50_000
MAX_WORKERS = 8
PG_COPY_MIN_ROWS = 100
ANALYZE_AFTER_ROWS = 10_000
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
    """Every deck of every carrier, and the carrier names."""
    carriers = (await session.scalars(select(Carrier))).all()
    decks = (await session.scalars(
        select(RateDeck).options(selectinload(RateDeck.rates), selectinload(RateDeck.carrier))
    )).all()
    by_carrier: dict[str, list[Deck]] = {}
    for deck in decks:
        rates = [Rate(r.prefix, r.destination, r.rate_per_minute, r.connect_fee,
                      r.min_seconds, r.increment_seconds) for r in deck.rates]
        by_carrier.setdefault(deck.carrier.slug, []).append(
            Deck(deck.id, deck.valid_from, deck.carrier.currency, rates))
    return RateBook(by_carrier), frozenset(c.slug for c in carriers)


class CdrStore:
    """Writes classified, rated CDRs; a key seen before is skipped, never counted twice.

    On PostgreSQL a big file is classified by worker processes, one slice each, while
    this process COPYs the slices that are ready (``parallel_min_bytes`` decides).
    """

    def __init__(self, session: AsyncSession, parallel_min_bytes: int = 4_000_000,
                 slice_lines: int = 25_000) -> None:
        self._session = session
        self._parallel_min_bytes = parallel_min_bytes
        self._slice_lines = slice_lines

    async def classifier(self) -> Classifier:
        """A classifier with the current carriers and decks."""
        book, carriers = await load_rate_book(self._session)
        return Classifier(carriers, book)

    async def import_master_csv(self, data: bytes, source: str, node: str,
                                progress: Progress | None = None,
                                announce: bool = False) -> ImportSummary:
        """Backfill from a cdr_csv file; bad lines go to quarantine, the rest is stored.
        With ``announce``, each call stored queues a ``cdr.rated`` webhook event, as a
        call stored live does (the catch-up of calls the live link missed)."""
        classifier = await self.classifier()
        if (not announce and self._session.get_bind().dialect.name == "postgresql"
                and len(data) >= self._parallel_min_bytes):
            summary = await self._import_in_parallel(data, source, node, classifier, progress)
            await self._session.execute(text("ANALYZE cdrs"))
            return summary
        summary = ImportSummary()
        batch: list[StoredCdr] = []
        quarantine: list[Quarantined] = []
        for item in read_master_csv(data, node, classifier):
            summary.rows += 1
            if isinstance(item, Quarantined):
                quarantine.append(item)
                summary.reasons[item.reason] = summary.reasons.get(item.reason, 0) + 1
                continue
            batch.append(item)
            if len(batch) >= BATCH_ROWS:
                await self._flush(batch, summary, progress, announce)
                batch = []
        await self._flush(batch, summary, progress, announce)
        await self._quarantine(quarantine, source)
        if summary.inserted >= ANALYZE_AFTER_ROWS:
            # Fresh planner statistics, or the month's report walks a million rows blind.
            await self._session.execute(text("ANALYZE cdrs"))
        summary.quarantined = len(quarantine)
        summary.unrated = classifier.unrated
        return summary

    async def _import_in_parallel(self, data: bytes, source: str, node: str,
                                  classifier: Classifier, progress: Progress | None
                                  ) -> ImportSummary:
        lines, quarantine = prepare_lines(data)
        connection = await self._session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        share_with_workers((lines, node, classifier))
        try:
            summary = await self._copy_slices(driver, len(lines), quarantine, progress)
        finally:
            share_with_workers(None)  # the parent need not keep the file
        await self._quarantine(quarantine, source)
        summary.quarantined = len(quarantine)
        for item in quarantine:
            summary.reasons[item.reason] = summary.reasons.get(item.reason, 0) + 1
        return summary

    async def _copy_slices(self, driver: Any, total: int, quarantine: list[Quarantined],
                           progress: Progress | None) -> ImportSummary:
        """Classify slices in forked workers; COPY each one as soon as it is ready."""
        summary = ImportSummary()
        loop = asyncio.get_running_loop()
        workers = max(1, min(os.cpu_count() or 1, MAX_WORKERS))
        staging = PgStaging(driver, "cdrs", STORED_COLUMNS)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")
                                 ) as pool:
            step = self._slice_lines
            slices = [loop.run_in_executor(pool, classify_shared_slice, start, start + step)
                      for start in range(0, total, step)]
            for ready in slices:
                chunk = await ready
                quarantine += chunk.quarantined
                summary.rows += len(chunk.keys) + len(chunk.quarantined)
                summary.outbound += chunk.outbound
                summary.unrated += chunk.unrated
                inserted = await staging.text_lines(chunk.lines)
                summary.inserted += inserted
                summary.duplicates += len(chunk.keys) - inserted
                if progress:
                    progress(len(chunk.keys) + len(chunk.quarantined))
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
                     progress: Progress | None, announce: bool) -> None:
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
        if progress:
            progress(len(batch))

    async def _insert_ignoring_duplicates(self, rows: Sequence[StoredCdr]) -> set[str]:
        """Insert the rows whose key is new; returns their keys. A row another writer
        stores at the same moment is skipped, not an error."""
        if self._session.get_bind().dialect.name == "postgresql" and len(rows) >= PG_COPY_MIN_ROWS:
            connection = await self._session.connection()
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            return await PgStaging(driver, "cdrs", STORED_COLUMNS).records(rows)
        return await insert_new_keys(
            self._session, Cdr, [row._asdict() for row in rows])

    async def _quarantine(self, items: list[Quarantined], source: str) -> None:
        rows = [{"source": source[:255], "line": q.line, "reason": q.reason[:255],
                 "raw": q.raw[:4000],
                 "raw_hash": hashlib.sha256(q.raw.encode()).hexdigest()} for q in items]
        await insert_ignoring(self._session, QuarantinedCdr, rows,
                              ["source", "line", "raw_hash"])

    async def rerate(self, start: datetime, end: datetime,
                     carrier: str | None = None) -> ImportSummary:
        """Price again every outbound call in [start, end) with the decks as they are now."""
        book, carriers = await load_rate_book(self._session)
        classifier = Classifier(carriers, book)
        query = select(Cdr).where(Cdr.direction == "outbound", Cdr.start >= start,
                                  Cdr.start < end)
        if carrier is not None:
            query = query.where(Cdr.carrier == carrier)
        summary = ImportSummary()
        for cdr in (await self._session.scalars(query)).all():
            assert cdr.carrier is not None and cdr.destination is not None
            rating = classifier.rate(cdr.carrier, cdr.destination,
                                     cdr.start.date().isoformat(), cdr.billsec)
            summary.rows += 1
            if rating != Rating(cdr.charged_seconds, cdr.cost, cdr.currency, cdr.prefix,
                                cdr.deck_id, cdr.unrated_reason):
                await self._session.execute(
                    update(Cdr).where(Cdr.id == cdr.id).values(**rating._asdict()))
                summary.inserted += 1
        summary.unrated = classifier.unrated
        return summary


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


