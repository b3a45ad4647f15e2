"""Serving a phone its set-up: the file its vendor's phone asks for under its
provisioning URL, rendered from the ``provisioning/`` templates; every fetch audited.
Whatever is wrong (unknown key, expired or used link, a name this phone never asks for),
the answer is the same None, so a scanner learns nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pbxctl.db.models import Device
from pbxctl.render.provisioning import (
    SOFTPHONE_FILES,
    Colleague,
    PhoneSetup,
    media_type,
    render_setup,
    template_of,
    utc_offset,
)
from pbxctl.render.templates import TemplateSet
from pbxctl.services.audit import AuditTrail
from pbxctl.services.devices import DeviceService, device_snapshot
from pbxctl.services.extensions import SIP_REALM

AUDITED_TEXT = 80     # at most this much of what a client sent goes into the audit trail


@dataclass(frozen=True)
class ServedFile:
    """A rendered provisioning file."""

    text: str
    media_type: str


def _clip(text: str, limit: int = AUDITED_TEXT) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


class ProvisioningService:
    """Finds the device a request is for and renders its file."""

    def __init__(self, devices: DeviceService, audit: AuditTrail,
                 templates: TemplateSet) -> None:
        self._devices = devices
        self._audit = audit
        self._templates = templates

    async def fetch(self, key: str, file_name: str, client: str, user_agent: str,
                    at: datetime) -> ServedFile | None:
        """The file ``file_name`` of the device whose URL secret is ``key``, for
        ``client``; None (audited as refused) when there is none. A one-time link works
        once."""
        device = await self._devices.by_key(key, at)
        template = await self._template(device, file_name)
        if device is None or template is None:
            self._audit.record("provision.refused", "address", _clip(client, 64),
                               detail=f"{_clip(file_name)} ({_clip(user_agent)})")
            return None
        self._audit.record("provision.fetch", "device", device.name,
                           after=device_snapshot(device),
                           detail=f"{file_name} to {_clip(client)} ({_clip(user_agent)})")
        server = await self._devices.server_of(device)
        text = render_setup(self._templates, template, _setup(device, at, server))
        return ServedFile(text, media_type(file_name))

    async def _template(self, device: Device | None, file_name: str) -> str | None:
        """The template of ``file_name`` for ``device``; None when it gets none. A
        softphone's link is spent here, by the one request that gets it."""
        if device is None:
            return None
        if device.mac is None:
            template = SOFTPHONE_FILES.get(file_name)
            return template if template and await self._devices.use_link(device) else None
        return template_of(device.model, device.mac, file_name)


def _setup(device: Device, at: datetime, server: tuple[str, int]) -> PhoneSetup:
    extension = device.extension
    branch = extension.branch
    return PhoneSetup(
        model=device.model, mac=device.mac, number=extension.number,
        display_name=extension.display_name, auth_user=device.name,
        password=device.sip_password, server=server[0], port=server[1], realm=SIP_REALM,
        timezone=branch.timezone,
        utc_offset=utc_offset(branch.timezone, at), language=branch.language,
        colleagues=tuple(Colleague(e.number, e.display_name) for e in branch.extensions
                         if e.number != extension.number))
