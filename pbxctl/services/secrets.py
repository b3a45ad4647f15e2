"""Secrets at rest: which key seals how many secrets, sealing clear-text leftovers, and
key rotation (the sealing itself is pbxctl/db/secrets.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import String, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from pbxctl.db.key_files import new_key
from pbxctl.db.models import Carrier, Device, Extension, Node, Webhook
from pbxctl.db.secrets import KeyRing, Keys, keys_of, sealed_key_id
from pbxctl.services.audit import AuditTrail

if TYPE_CHECKING:
    from pbxctl.services.bundle import UnitOfWork

# Every column whose value pbxctl must read back and keeps sealed.
SECRET_COLUMNS: tuple[InstrumentedAttribute[str] | InstrumentedAttribute[str | None], ...] = (
    Node.ami_secret, Carrier.secret, Webhook.secret, Extension.sip_ha1,
    Extension.voicemail_pin, Device.sip_password)
CLEAR = "clear text"


@dataclass(frozen=True)
class SecretsStatus:
    """Where the keys come from, the key sealing new values, and how many stored secrets
    each key sealed (``clear text`` for those not encrypted yet)."""

    source: str
    current_key: str
    counts: dict[str, int]


class SecretsService:
    """The sealed columns of every table, seen raw."""

    def __init__(self, session: AsyncSession, audit: AuditTrail) -> None:
        self._session = session
        self._audit = audit
        assert isinstance(session.bind, AsyncEngine)
        self.keys: Keys = keys_of(session.bind)

    async def status(self) -> SecretsStatus:
        """How the stored secrets stand."""
        counts = Counter(sealed_key_id(stored) or CLEAR for stored in await self._stored())
        return SecretsStatus(self.keys.source.where, self.keys.ring().current, dict(counts))

    async def sealed_count(self) -> int:
        """How many stored secrets are encrypted (under any key); needs no key."""
        return sum(sealed_key_id(stored) is not None for stored in await self._stored())

    async def verify(self) -> None:
        """Open every stored secret: a clear error now when the key is wrong."""
        ring = self.keys.ring()
        for stored in await self._stored():
            ring.open(stored)

    async def _stored(self) -> list[str]:
        """Every stored secret as it is in the database."""
        found: list[str] = []
        for column in SECRET_COLUMNS:
            raw = await self._session.scalars(select(type_coerce(column, String())))
            found += (stored for stored in raw if stored is not None)
        return found

    async def seal_all(self) -> int:
        """Seal under the current key every secret that is clear text or sealed by
        another key; how many were rewritten."""
        ring = self.keys.ring()
        rewritten = 0
        for column in SECRET_COLUMNS:
            model = column.class_
            rows = await self._session.execute(
                select(model.id, type_coerce(column, String())))
            for row_id, stored in rows.all():
                if stored is None or sealed_key_id(stored) == ring.current:
                    continue
                await self._session.execute(update(model).where(
                    model.id == row_id).values({column.key: ring.open(stored)}))
                rewritten += 1
        return rewritten

    async def seal_leftovers(self) -> int:
        """Seal clear-text secrets (written before encryption), audited when there were."""
        sealed = await self.seal_all()
        if sealed:
            self._audit.record("seal", "secrets", self.keys.ring().current,
                               detail=f"{sealed} clear-text secret(s) encrypted")
        return sealed


@dataclass(frozen=True)
class Rotation:
    """A finished key rotation."""

    old_keys: tuple[str, ...]
    new_key: str
    resealed: int


async def rotate_key(unit: UnitOfWork) -> Rotation:
    """A new key seals every secret in one transaction. The key file holds the new and
    the old keys until that transaction has committed, then the new key alone; when the
    transaction fails, the old keys are put back."""
    async with unit() as services:
        keys = services.secrets.keys
        old = keys.ring()
    fresh = new_key()
    keys.source.write((fresh, *old.keys))
    try:
        async with unit() as services:
            keys.replace(KeyRing((fresh, *old.keys), keys.source.where))
            resealed = await services.secrets.seal_all()
            services.audit.record("rotate-key", "secrets", keys.ring().current,
                                  before={"key": old.current},
                                  after={"key": keys.ring().current},
                                  detail=f"{resealed} secret(s) encrypted with the new key")
    except BaseException:
        keys.source.write(old.keys)
        keys.replace(old)
        raise
    keys.source.write((fresh,))
    keys.replace(KeyRing((fresh,), keys.source.where))
    return Rotation(old.keys, fresh, resealed)
