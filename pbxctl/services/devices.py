"""Devices: the phones of an extension that set themselves up, each with its own SIP
login (``<number>-<mac>``, or ``<number>-app`` for the softphone) and password, and the
secret of its provisioning URL (only its SHA-256 is kept, so it is shown once)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl import validation as v
from pbxctl.db.models import Branch, Device, Extension, utcnow
from pbxctl.errors import ConflictError, NotFoundError, ValidationError
from pbxctl.render.provisioning import MODELS, SOFTPHONE
from pbxctl.services.audit import AuditTrail, Snapshot
from pbxctl.services.extensions import new_password
from pbxctl.services.read.phone_server import phone_server

MAX_DEVICES = 2          # per extension: its AOR keeps two contacts (desk phone + softphone)
KEY_BYTES = 24           # the URL secret: 32 URL-safe characters, 192 bits
PHONE_PATH = "/p/{key}/"            # a desk phone asks for its files under it
LINK_PATH = "/q/{key}/"   # a softphone: linphone.xml or account.txt, once


@dataclass(frozen=True)
class ProvisioningLink:
    """Where a device fetches its set-up, shown once: the URL (a path when no
    ``provisioning_url`` is set), and when it stops working (None: it does not)."""

    device: str
    url: str
    expires: datetime | None = None


def key_hash(key: str) -> str:
    """What is stored of a URL secret."""
    return hashlib.sha256(key.encode()).hexdigest()


def device_snapshot(device: Device) -> Snapshot:
    """A device as the audit trail and ``--json`` show it (no secrets)."""
    return {"name": device.name, "extension": device.extension.number,
            "mac": _colons(device.mac) if device.mac else None, "model": device.model}


def _colons(mac: str) -> str:
    return ":".join(mac[i:i + 2] for i in range(0, 12, 2)).upper()


class DeviceService:
    """Adds, lists and removes devices and makes their provisioning links."""

    def __init__(self, session: AsyncSession, audit: AuditTrail, base_url: str | None) -> None:
        self._session = session
        self._audit = audit
        self._base_url = base_url

    async def add(self, number: str, mac: str, model: str) -> ProvisioningLink:
        """A desk phone of extension ``number``; returns its provisioning URL."""
        mac = v.mac("mac", mac)
        if model not in MODELS:
            raise ValidationError("model", f"{model!r} is not a model pbxctl provisions; "
                                           f"one of {', '.join(MODELS)}")
        extension = await self._extension(number)
        taken = await self._session.scalar(select(Device).where(Device.mac == mac)
                                           .options(selectinload(Device.extension)))
        if taken is not None:
            raise ConflictError(f"MAC {_colons(mac)} is already device {taken.name} of "
                                f"extension {taken.extension.number}")
        self._room_for_one_more(extension)
        key = secrets.token_urlsafe(KEY_BYTES)
        device = Device(name=f"{extension.number}-{mac}", extension=extension, mac=mac,
                        model=model, sip_password=new_password(), key_hash=key_hash(key))
        self._session.add(device)
        await self._session.flush()
        self._audit.record("device.add", "device", device.name, after=device_snapshot(device))
        return ProvisioningLink(device.name, self._url(PHONE_PATH.format(key=key)))

    async def softphone_link(self, number: str, minutes: int) -> ProvisioningLink:
        """A one-time link, valid ``minutes``, that sets up the softphone of extension
        ``number`` (its own login; a new password, so an older link or app stops)."""
        if not 1 <= minutes <= 7 * 24 * 60:
            raise ValidationError("minutes", "must be 1 to 10080 (a week)")
        extension = await self._extension(number)
        device = next((d for d in extension.devices if d.model == SOFTPHONE), None)
        if device is None:
            self._room_for_one_more(extension)
            device = Device(name=f"{extension.number}-app", extension=extension,
                            model=SOFTPHONE, sip_password=new_password())
            self._session.add(device)
        key = secrets.token_urlsafe(KEY_BYTES)
        device.sip_password = new_password()
        device.key_hash = key_hash(key)
        device.key_expires = utcnow() + timedelta(minutes=minutes)
        await self._session.flush()
        self._audit.record("device.link", "device", device.name, after=device_snapshot(device),
                           detail=f"one-time link until {device.key_expires.isoformat()}")
        return ProvisioningLink(device.name, self._url(LINK_PATH.format(key=key)),
                                device.key_expires)

    async def list(self, number: str | None = None) -> Sequence[Device]:
        """Devices by name, optionally of one extension."""
        query = (select(Device).join(Device.extension).order_by(Device.name)
                 .options(selectinload(Device.extension)))
        if number is not None:
            await self._extension(number)
            query = query.where(Extension.number == number)
        return (await self._session.scalars(query)).all()

    async def remove(self, device: str) -> None:
        """Remove a device (by MAC or name); its login stops working at the next apply."""
        found = await self._find(device)
        self._audit.record("device.remove", "device", found.name,
                           before=device_snapshot(found))
        await self._session.delete(found)

    async def by_key(self, key: str, at: datetime) -> Device | None:
        """The device whose URL secret is ``key`` and still valid at ``at``, loaded with
        its branch's extensions and node; None for any other key."""
        device = await self._session.scalar(
            select(Device).where(Device.key_hash == key_hash(key)).options(
                selectinload(Device.extension).selectinload(Extension.branch)
                .selectinload(Branch.extensions),
                selectinload(Device.extension).selectinload(Extension.branch)
                .selectinload(Branch.node)))
        if device is None or (device.key_expires is not None and device.key_expires <= at):
            return None
        return device

    async def server_of(self, device: Device) -> tuple[str, int]:
        """Where ``device`` registers: the edge, or its branch's node without one."""
        return await phone_server(self._session, device.extension.branch.node)

    async def use_link(self, device: Device) -> bool:
        """Spend a one-time link: True for the one request that does (a second one at the
        same moment waits for it, then finds the link gone)."""
        spent = await self._session.execute(
            update(Device).where(Device.id == device.id, Device.key_hash == device.key_hash)
            .values(key_hash=None).execution_options(synchronize_session=False))
        return bool(getattr(spent, "rowcount", 0) == 1)

    def _room_for_one_more(self, extension: Extension) -> None:
        if len(extension.devices) >= MAX_DEVICES:
            raise ConflictError(f"extension {extension.number} has {MAX_DEVICES} devices "
                                f"({', '.join(d.name for d in extension.devices)}), as many "
                                "as it can keep registered; remove one first")

    async def _extension(self, number: str) -> Extension:
        v.extension_number("extension", number)
        extension = await self._session.scalar(
            select(Extension).where(Extension.number == number)
            .options(selectinload(Extension.devices), selectinload(Extension.branch)))
        if extension is None:
            raise NotFoundError(f"no extension {number}")
        return extension

    async def _find(self, device: str) -> Device:
        ref = v.device("device", device)
        where = Device.name == ref if "-" in ref else Device.mac == ref
        found = await self._session.scalar(select(Device).where(where)
                                           .options(selectinload(Device.extension)))
        if found is None:
            raise NotFoundError(f"no device {device}")
        return found

    def _url(self, path: str) -> str:
        return path if self._base_url is None else self._base_url.rstrip("/") + path
