"""Rate decks: carriers' price lists, versioned by the date they are valid from."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl import validation as v
from pbxctl.billing.decks import parse_deck
from pbxctl.billing.rating import Rate as RateValue
from pbxctl.db.models import Carrier, Rate, RateDeck
from pbxctl.errors import NotFoundError, ValidationError
from pbxctl.services.audit import AuditTrail
from pbxctl.services.cdrs import load_rate_book


@dataclass(frozen=True)
class DeckSummary:
    """One deck version as listings show it."""

    carrier: str
    valid_from: date
    rates: int
    source: str
    status: str  # "added", "replaced", "unchanged" (for imports) or "stored"


@dataclass(frozen=True)
class PriceAnswer:
    """Which deck and prefix price a number, and how."""

    carrier: str
    number: str
    valid_from: date
    rate: RateValue
    currency: str


class RateService:
    """Imports, lists and queries rate decks."""

    def __init__(self, session: AsyncSession, audit: AuditTrail) -> None:
        self._session = session
        self._audit = audit

    async def import_deck(self, carrier_slug: str, text: str, source: str,
                          valid_from: date | None) -> list[DeckSummary]:
        """Check the whole file, then store one deck per valid_from date it holds.

        A deck for a date that already has one replaces it; the same content is a no-op.
        """
        carrier = await self._carrier(carrier_slug)
        parsed = parse_deck(text, valid_from)
        summaries = []
        for day, rates in sorted(parsed.by_valid_from.items()):
            checksum = _checksum(rates)
            existing = await self._session.scalar(
                select(RateDeck).where(RateDeck.carrier_id == carrier.id,
                                       RateDeck.valid_from == day))
            if existing is not None and existing.checksum == checksum:
                summaries.append(DeckSummary(carrier.slug, day, len(rates), source,
                                             "unchanged"))
                continue
            status = "added"
            if existing is not None:
                await self._session.execute(delete(Rate).where(Rate.deck_id == existing.id))
                await self._session.delete(existing)
                await self._session.flush()
                status = "replaced"
            deck = RateDeck(carrier_id=carrier.id, valid_from=day, source=source[:255],
                            checksum=checksum)
            self._session.add(deck)
            await self._session.flush()
            await self._session.execute(insert(Rate), [
                {"deck_id": deck.id, "prefix": r.prefix, "destination": r.destination,
                 "rate_per_minute": r.rate_per_minute, "connect_fee": r.connect_fee,
                 "min_seconds": r.min_seconds, "increment_seconds": r.increment_seconds}
                for r in rates])
            self._audit.record(f"rates.{'import' if status == 'added' else 'replace'}",
                               "carrier", carrier.slug,
                               after={"valid_from": day.isoformat(), "rates": len(rates),
                                      "source": source[:200], "sha256": checksum})
            summaries.append(DeckSummary(carrier.slug, day, len(rates), source, status))
        return summaries

    async def decks(self, carrier_slug: str | None = None) -> list[DeckSummary]:
        """Every deck version, by carrier and date."""
        query = (select(Carrier.slug, RateDeck.valid_from, RateDeck.source,
                        func.count(Rate.id))
                 .join(RateDeck, RateDeck.carrier_id == Carrier.id)
                 .join(Rate, Rate.deck_id == RateDeck.id)
                 .group_by(Carrier.slug, RateDeck.valid_from, RateDeck.source)
                 .order_by(Carrier.slug, RateDeck.valid_from))
        if carrier_slug is not None:
            query = query.where(Carrier.slug == (await self._carrier(carrier_slug)).slug)
        rows = (await self._session.execute(query)).all()
        return [DeckSummary(slug, day, count, source, "stored")
                for slug, day, source, count in rows]

    async def price(self, carrier_slug: str, number: str, on: date) -> PriceAnswer:
        """The deck and prefix that price calls to ``number`` through the carrier on ``on``."""
        carrier = await self._carrier(carrier_slug)
        e164 = v.e164("number", number if number.startswith("+") else f"+{number}")
        book, _carriers = await load_rate_book(self._session)
        deck = book.deck(carrier.slug, on.isoformat())
        if deck is None:
            raise NotFoundError(f"carrier {carrier.slug!r} has no rate deck valid on {on}")
        rate = deck.match(e164[1:])
        if rate is None:
            raise NotFoundError(f"no prefix of {carrier.slug}'s deck of {deck.valid_from} "
                                f"matches {e164}")
        return PriceAnswer(carrier.slug, e164, deck.valid_from, rate, deck.currency)

    async def _carrier(self, slug: str) -> Carrier:
        carrier = await self._session.scalar(
            select(Carrier).where(Carrier.slug == v.slug("carrier", slug)))
        if carrier is None:
            raise NotFoundError(f"no carrier {slug!r}")
        return carrier


def _checksum(rates: Sequence[RateValue]) -> str:
    digest = hashlib.sha256()
    for r in sorted(rates, key=lambda r: r.prefix):
        digest.update(f"{r.prefix},{r.destination},{r.rate_per_minute},{r.connect_fee},"
                      f"{r.min_seconds},{r.increment_seconds}\n".encode())
    return digest.hexdigest()


def parse_day(field: str, text: str) -> date:
    """An ISO date."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, f"{text!r} is not a date like 2026-11-01") from None
