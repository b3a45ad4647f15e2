"""API tokens: created with a role, shown once, kept only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl import validation as v
from pbxctl.db.models import ApiToken
from pbxctl.errors import ConflictError, NotFoundError, ValidationError
from pbxctl.services.audit import AuditTrail

ROLES = ("admin", "accountant", "viewer")
TOKEN_PREFIX = "pbx_"


def token_hash(token: str) -> str:
    """What is stored and compared: the token's SHA-256 (tokens are long and random)."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    """Creates, lists, revokes and checks API tokens."""

    def __init__(self, session: AsyncSession, audit: AuditTrail) -> None:
        self._session = session
        self._audit = audit

    async def create(self, name: str, role: str) -> str:
        """A new token for ``name`` with ``role``; the only time it is shown."""
        v.slug("NAME", name)
        if role not in ROLES:
            raise ValidationError("role", f"use one of {', '.join(ROLES)}")
        if await self._session.scalar(select(ApiToken.id).where(ApiToken.name == name)):
            raise ConflictError(f"token {name!r} already exists")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._session.add(ApiToken(name=name, role=role, token_hash=token_hash(token)))
        self._audit.record("token.create", "token", name, after={"role": role})
        return token

    async def revoke(self, name: str) -> None:
        """The token stops working at once."""
        token = await self._session.scalar(select(ApiToken).where(ApiToken.name == name))
        if token is None:
            raise NotFoundError(f"no token {name!r}")
        self._audit.record("token.revoke", "token", name, before={"role": token.role})
        await self._session.delete(token)

    async def list(self) -> Sequence[ApiToken]:
        """Every token (never its secret)."""
        return (await self._session.scalars(select(ApiToken).order_by(ApiToken.name))).all()

    async def check(self, presented: str) -> ApiToken | None:
        """The token matching a presented bearer token, if any."""
        return await self._session.scalar(
            select(ApiToken).where(ApiToken.token_hash == token_hash(presented)))
