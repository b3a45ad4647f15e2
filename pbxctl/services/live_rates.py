"""The carriers and rate decks the live path rates with, kept in memory and loaded again
only when they change: a look at the deck ids and the carriers at most every
``check_every`` seconds, the whole rate book only when that look differs."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.billing.records import Classifier
from pbxctl.db.models import Carrier, RateDeck
from pbxctl.services.cdrs import load_rate_book

CHECK_SECONDS = 5.0

# What tells a change: a deck imported, replaced or removed (its id and checksum: SQLite
# may give a replacing deck the id of the one it replaces); a carrier added, removed or
# renamed, or its currency changed.
Fingerprint = tuple[tuple[tuple[int, str], ...], tuple[tuple[str, str], ...]]


async def fingerprint(session: AsyncSession) -> Fingerprint:
    """The decks' ids and checksums, and the carriers' slugs and currencies, in order."""
    decks = (await session.execute(
        select(RateDeck.id, RateDeck.checksum).order_by(RateDeck.id))).all()
    carriers = (await session.execute(
        select(Carrier.slug, Carrier.currency).order_by(Carrier.slug))).all()
    return (tuple((deck_id, checksum) for deck_id, checksum in decks),
            tuple((slug, currency) for slug, currency in carriers))


class RateIndex:
    """A classifier over the current decks, reloaded when they change."""

    def __init__(self, check_every: float = CHECK_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._check_every = check_every
        self._clock = clock
        self._classifier: Classifier | None = None
        self._seen: Fingerprint | None = None
        self._checked_at = 0.0

    @property
    def unrated(self) -> int:
        """Outbound calls no deck could price, since the index was made."""
        return self._classifier.unrated if self._classifier else 0

    async def classifier(self, session: AsyncSession) -> Classifier:
        """The classifier to rate with now (the decks checked for a change first, when
        the last check is ``check_every`` seconds old)."""
        now = self._clock()
        if self._classifier is not None and now - self._checked_at < self._check_every:
            return self._classifier
        seen = await fingerprint(session)
        self._checked_at = now
        if self._classifier is None or seen != self._seen:
            book, carriers = await load_rate_book(session)
            self._classifier = Classifier(carriers, book, self.unrated)
            self._seen = seen
        return self._classifier
