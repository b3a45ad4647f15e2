"""Carriers: independent operators and their SIP trunks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl import validation as v
from pbxctl.db.models import Carrier, OutboundPolicy, PhoneNumber
from pbxctl.errors import ConflictError, NotFoundError, ValidationError
from pbxctl.numbering import parse_number_format
from pbxctl.services.audit import AuditTrail, Snapshot

TRANSPORTS = ("udp", "tcp")
AUTH_MODES = ("ip", "register")


@dataclass(frozen=True)
class CarrierSpec:
    """Everything that describes a carrier's trunk; ``None`` leaves a field as it is."""

    host: str | None = None
    port: int | None = None
    transport: str | None = None
    auth: str | None = None
    match: tuple[str, ...] | None = None
    username: str | None = None
    secret: str | None = None
    number_format: str | None = None
    max_channels: int | None = None
    qualify_seconds: int | None = None
    currency: str | None = None
    contract: str | None = None
    send_names: bool | None = None


NEW_CARRIER_DEFAULTS = CarrierSpec(port=5060, transport="udp", number_format="e164",
                                   qualify_seconds=30, currency="RUB", match=(),
                                   send_names=False)


def carrier_snapshot(carrier: Carrier) -> Snapshot:
    """A carrier's fields without its secret."""
    return {
        "slug": carrier.slug, "host": carrier.host, "port": carrier.port,
        "transport": carrier.transport, "auth": carrier.auth, "match": list(carrier.match),
        "username": carrier.username, "number_format": carrier.number_format,
        "max_channels": carrier.max_channels, "qualify_seconds": carrier.qualify_seconds,
        "currency": carrier.currency, "contract": carrier.contract,
        "send_names": carrier.send_names,
    }


class CarrierService:
    """Adds, lists, updates and removes carriers."""

    def __init__(self, session: AsyncSession, audit: AuditTrail) -> None:
        self._session = session
        self._audit = audit

    async def add(self, slug: str, spec: CarrierSpec) -> Carrier:
        """Validate and store a new carrier."""
        v.slug("slug", slug)
        if await self._find(slug) is not None:
            raise ConflictError(f"carrier {slug!r} already exists")
        merged = replace(NEW_CARRIER_DEFAULTS, **{k: val for k, val in vars(spec).items()
                                                  if val is not None})
        if merged.host is None or merged.auth is None:
            raise ValidationError("host/auth", "a new carrier needs `host` and `auth`")
        carrier = Carrier(slug=slug)
        self._apply(carrier, merged)
        self._session.add(carrier)
        await self._session.flush()
        self._audit.record("carrier.add", "carrier", slug, after=carrier_snapshot(carrier))
        return carrier

    async def update(self, slug: str, spec: CarrierSpec) -> Carrier:
        """Change some fields of a carrier; the rest stay."""
        carrier = await self.get(slug)
        before = carrier_snapshot(carrier)
        current = CarrierSpec(
            host=carrier.host, port=carrier.port, transport=carrier.transport,
            auth=carrier.auth, match=tuple(carrier.match), username=carrier.username,
            secret=carrier.secret, number_format=carrier.number_format,
            max_channels=carrier.max_channels, qualify_seconds=carrier.qualify_seconds,
            currency=carrier.currency, contract=carrier.contract,
            send_names=carrier.send_names)
        merged = replace(current, **{k: val for k, val in vars(spec).items() if val is not None})
        self._apply(carrier, merged)
        after = carrier_snapshot(carrier)
        secret_changed = spec.secret is not None and spec.secret != current.secret
        if before == after and not secret_changed:
            return carrier
        self._audit.record("carrier.update", "carrier", slug, before=before, after=after,
                           detail="secret changed" if secret_changed and before == after
                           else None)
        return carrier

    async def list(self) -> Sequence[Carrier]:
        """All carriers by slug."""
        return (await self._session.scalars(select(Carrier).order_by(Carrier.slug))).all()

    async def get(self, slug: str) -> Carrier:
        """The carrier ``slug``."""
        carrier = await self._find(v.slug("carrier", slug))
        if carrier is None:
            raise NotFoundError(f"no carrier {slug!r}")
        return carrier

    async def remove(self, slug: str) -> None:
        """Remove a carrier that serves no number."""
        carrier = await self.get(slug)
        numbers = (await self._session.scalars(
            select(PhoneNumber.e164).where(PhoneNumber.carrier_id == carrier.id)
            .order_by(PhoneNumber.e164))).all()
        if numbers:
            raise ConflictError(f"carrier {slug!r} still serves {', '.join(numbers)}; move "
                                "them with 'pbxctl number move' or release them first")
        policies = (await self._session.scalars(
            select(OutboundPolicy).options(selectinload(OutboundPolicy.branch)))).all()
        users = sorted(p.branch.slug for p in policies if slug in p.carriers)
        if users:
            raise ConflictError(f"carrier {slug!r} is in the outbound policy of "
                                f"{', '.join(users)}; change it with 'pbxctl branch outbound'")
        self._audit.record("carrier.remove", "carrier", slug, before=carrier_snapshot(carrier))
        await self._session.delete(carrier)

    @staticmethod
    def _apply(carrier: Carrier, spec: CarrierSpec) -> None:
        assert spec.host is not None and spec.auth is not None
        if spec.transport not in TRANSPORTS:
            raise ValidationError("transport", f"{spec.transport!r}: use udp or tcp")
        if spec.auth not in AUTH_MODES:
            raise ValidationError("auth", f"{spec.auth!r}: use ip or register")
        match = tuple(v.cidr("match", m) for m in (spec.match or ()))
        if spec.auth == "ip" and not match:
            raise ValidationError("match", "an IP-authenticated carrier needs at least one "
                                             "`match` address or network")
        if spec.auth == "register" and not (spec.username and spec.secret):
            raise ValidationError("username/secret",
                                  "a registering carrier needs `username` and `secret`")
        if spec.max_channels is not None and not 1 <= spec.max_channels <= 10_000:
            raise ValidationError("max_channels", "must be between 1 and 10000")
        if spec.qualify_seconds is None or not 0 <= spec.qualify_seconds <= 3600:
            raise ValidationError("qualify_seconds", "must be between 0 (off) and 3600 seconds")
        carrier.host = v.host("host", spec.host)
        carrier.port = v.port("port", spec.port or 5060)
        carrier.transport = spec.transport
        carrier.auth = spec.auth
        carrier.match = list(match)
        carrier.username = v.sip_user("username", spec.username) if spec.username else None
        carrier.secret = v.secret("secret", spec.secret) if spec.secret else None
        carrier.number_format = str(parse_number_format("number_format",
                                                        spec.number_format or "e164"))
        carrier.max_channels = spec.max_channels
        carrier.qualify_seconds = spec.qualify_seconds
        carrier.currency = v.currency("currency", spec.currency or "RUB")
        carrier.contract = v.contract("contract", spec.contract) if spec.contract else None
        carrier.send_names = bool(spec.send_names)

    async def _find(self, slug: str) -> Carrier | None:
        return await self._session.scalar(select(Carrier).where(Carrier.slug == slug))
