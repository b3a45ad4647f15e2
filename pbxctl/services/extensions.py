"""Extensions: phones and softphones, with generated SIP credentials."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl import validation as v
from pbxctl.db.models import Branch, CallQueue, Extension
from pbxctl.errors import ConflictError, NotFoundError, ValidationError
from pbxctl.services.audit import AuditTrail, Snapshot
from pbxctl.services.read.phone_server import phone_server
from pbxctl.services.routing import numbers_routed_to

SIP_REALM = "pbxctl"
PASSWORD_BYTES = 18  # 24 URL-safe characters, about 144 bits
PIN_DIGITS = 6       # a generated voicemail PIN


@dataclass(frozen=True)
class SipCredentials:
    """What a person types into a softphone; the password is shown once and never stored."""

    username: str
    password: str
    realm: str
    server: str
    port: int
    transport: str = "udp"


def sip_ha1(username: str, password: str, realm: str = SIP_REALM) -> str:
    """The digest HA1 Asterisk checks a phone's password against."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()


def new_password() -> str:
    """A strong random SIP password made of characters every softphone accepts."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def new_pin(extension: str) -> str:
    """A random voicemail PIN of ``PIN_DIGITS`` digits that no guessing list starts with."""
    while True:
        pin = "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))
        if not v.guessable_pin(pin, extension):
            return pin


def extension_snapshot(extension: Extension) -> Snapshot:
    """Fields of an extension as the audit trail and ``--json`` show them (no secrets)."""
    return {
        "number": extension.number, "branch": extension.branch.slug,
        "name": extension.display_name, "department": extension.effective_department,
        "voicemail_pin": extension.voicemail_pin is not None, "email": extension.email,
    }


class ExtensionService:
    """Adds, lists and removes extensions and rotates their passwords."""

    def __init__(self, session: AsyncSession, audit: AuditTrail) -> None:
        self._session = session
        self._audit = audit

    async def add(self, branch_slug: str, number: str, name: str,
                  department: str | None = None, email: str | None = None
                  ) -> tuple[Extension, SipCredentials]:
        """Create an extension in its branch's range (its voicemail mailed to ``email``
        when given); returns it with its new credentials."""
        v.slug("branch", branch_slug)
        number = v.extension_number("number", number)
        name = v.display_name("name", name)
        if department is not None:
            department = v.slug("department", department)
        if email is not None:
            email = v.email("email", email)
        branch = await self._branch(branch_slug)
        if not (branch.ext_start <= int(number) <= branch.ext_end
                and len(number) == len(str(branch.ext_start))):
            raise ValidationError("number", f"{number} is outside branch {branch.slug!r}'s "
                                            f"range {branch.ext_range}")
        existing = await self._find(number)
        if existing is not None:
            raise ConflictError(f"extension {number} already exists "
                                f"(branch {existing.branch.slug!r}, {existing.display_name})")
        password = new_password()
        extension = Extension(number=number, branch=branch, display_name=name,
                              department=department, email=email,
                              sip_ha1=sip_ha1(number, password))
        self._session.add(extension)
        await self._session.flush()
        self._audit.record("ext.add", "extension", number, after=extension_snapshot(extension))
        return extension, await self._credentials(extension, password)

    async def list(self, branch_slug: str | None = None) -> Sequence[Extension]:
        """Extensions by number, optionally of one branch."""
        query = (select(Extension).join(Extension.branch).order_by(Extension.number)
                 .options(selectinload(Extension.branch).selectinload(Branch.node)))
        if branch_slug is not None:
            await self._branch(v.slug("branch", branch_slug))
            query = query.where(Branch.slug == branch_slug)
        return (await self._session.scalars(query)).all()

    async def get(self, number: str) -> Extension:
        """The extension ``number``."""
        extension = await self._find(v.extension_number("number", number))
        if extension is None:
            raise NotFoundError(f"no extension {number}")
        return extension

    async def remove(self, number: str) -> None:
        """Remove an extension; its phone can no longer register after the next apply."""
        extension = await self.get(number)
        in_queues = [q.name for q in (await self._session.scalars(select(CallQueue))).all()
                     if number in q.members]
        if in_queues:
            raise ConflictError(f"extension {number} answers queue(s) {', '.join(in_queues)}; "
                                "take it out of `members` first")
        routed = await numbers_routed_to(self._session, f"ext:{number}", f"voicemail:{number}")
        if routed:
            raise ConflictError(f"extension {number} is where {', '.join(routed)} ring; "
                                "route them elsewhere first ('pbxctl number route')")
        self._audit.record("ext.remove", "extension", number,
                           before=extension_snapshot(extension))
        await self._session.delete(extension)

    async def rotate_password(self, number: str) -> SipCredentials:
        """Give the extension a new password; the old one stops working after apply."""
        extension = await self.get(number)
        password = new_password()
        extension.sip_ha1 = sip_ha1(number, password)
        self._audit.record("ext.passwd", "extension", number, detail="SIP password rotated")
        return await self._credentials(extension, password)

    async def set_voicemail_pin(self, number: str, pin: str | None) -> str:
        """Give the extension's mailbox the PIN ``pin`` (a generated one when None);
        returns it, to be shown once. It is asked for at ``*97`` after the next apply."""
        extension = await self.get(number)
        chosen = new_pin(number) if pin is None else v.voicemail_pin("pin", pin, number)
        self._change_pin(extension, chosen, "voicemail PIN generated" if pin is None
                         else "voicemail PIN set")
        return chosen

    async def remove_voicemail_pin(self, number: str) -> None:
        """Take the mailbox's PIN away: it then opens from the extension's own phones
        (whose SIP login is the proof) without one."""
        self._change_pin(await self.get(number), None, "voicemail PIN removed")

    async def set_email(self, number: str, email: str | None) -> Extension:
        """Mail the mailbox's new messages to ``email`` from now on (None: to nobody);
        serve sends them, the recording attached."""
        extension = await self.get(number)
        chosen = None if email is None else v.email("email", email)
        if chosen != extension.email:
            before = extension_snapshot(extension)
            extension.email = chosen
            self._audit.record("ext.email", "extension", number, before=before,
                               after=extension_snapshot(extension))
        return extension

    def _change_pin(self, extension: Extension, pin: str | None, detail: str) -> None:
        before = extension_snapshot(extension)
        extension.voicemail_pin = pin
        self._audit.record("ext.voicemail-pin", "extension", extension.number, before=before,
                           after=extension_snapshot(extension), detail=detail)

    async def _credentials(self, extension: Extension, password: str) -> SipCredentials:
        server, port = await phone_server(self._session, extension.branch.node)
        return SipCredentials(username=extension.number, password=password, realm=SIP_REALM,
                              server=server, port=port)

    async def _branch(self, slug: str) -> Branch:
        query = select(Branch).where(Branch.slug == slug).options(selectinload(Branch.node))
        branch = await self._session.scalar(query)
        if branch is None:
            raise NotFoundError(f"no branch {slug!r}")
        return branch

    async def _find(self, number: str) -> Extension | None:
        query = (select(Extension).where(Extension.number == number)
                 .options(selectinload(Extension.branch).selectinload(Branch.node)))
        return await self._session.scalar(query)
