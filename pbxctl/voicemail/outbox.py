"""The voicemail outbox: the mailboxes to watch, mails queued once per message, the
mails due for an attempt, and each attempt's outcome (``delivery.py`` reads and writes
it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.bulk import insert_ignoring
from pbxctl.db.models import Branch, Extension, Node, VoicemailMail, utcnow
from pbxctl.voicemail.mail import Mailbox


@dataclass(frozen=True)
class WatchedMailbox:
    """A mailbox whose messages are mailed, and the node recordings directory its
    spool is found beside."""

    box: Mailbox
    recordings_dir: Path


async def watched_mailboxes(session: AsyncSession) -> list[WatchedMailbox]:
    """Every extension with an e-mail address on a node with a recordings directory."""
    rows = (await session.execute(
        select(Extension.number, Extension.display_name, Extension.email, Branch.timezone,
               Node.name, Node.recordings_dir)
        .join(Extension.branch).join(Branch.node)
        .where(Extension.email.is_not(None), Node.recordings_dir.is_not(None))
        .order_by(Extension.number))).all()
    return [WatchedMailbox(Mailbox(node, number, name, zone, email), Path(recordings))
            for number, name, email, zone, node, recordings in rows
            if email is not None and recordings is not None]   # as selected: for mypy


async def known_keys(session: AsyncSession, node: str, keys: list[str]) -> set[str]:
    """Which of the node's message keys are already queued (in whatever state)."""
    if not keys:
        return set()
    found = await session.scalars(select(VoicemailMail.message_key).where(
        VoicemailMail.node == node, VoicemailMail.message_key.in_(keys)))
    return set(found)


async def enqueue(session: AsyncSession, box: Mailbox, key: str, mail: str) -> bool:
    """Queue the mail of message ``key``; False when it was queued before (by anyone)."""
    now = utcnow()
    return bool(await insert_ignoring(session, VoicemailMail, [{
        "node": box.node, "message_key": key, "mailbox": box.number,
        "recipient": box.recipient, "mail": mail, "state": "pending", "attempts": 0,
        "created_at": now, "next_attempt_at": now}], ["node", "message_key"]))


@dataclass(frozen=True)
class DueMail:
    """A mail to send now."""

    id: int
    node: str
    message_key: str
    mailbox: str
    recipient: str
    mail: str
    attempts: int


async def claim_due_mail(session: AsyncSession, due_by: datetime, until: datetime
                         ) -> DueMail | None:
    """Take the oldest pending mail due by ``due_by``, for this sender alone: its next
    attempt moves to ``until`` in the same statement, so another sender (a second ``serve``)
    passes it by, and takes it up only if this one never records its attempt. None when
    no mail is due. PostgreSQL skips a row another sender is claiming (``SKIP LOCKED``);
    SQLite runs one writer at a time, and the claim's own conditions refuse a row taken
    meanwhile."""
    due = (VoicemailMail.state == "pending", VoicemailMail.next_attempt_at <= due_by)
    oldest = (select(VoicemailMail.id).where(*due)
              .order_by(VoicemailMail.next_attempt_at, VoicemailMail.id).limit(1)
              .with_for_update(skip_locked=True).scalar_subquery())
    claimed = (await session.execute(
        update(VoicemailMail).where(VoicemailMail.id == oldest, *due)
        .values(next_attempt_at=until)
        .returning(VoicemailMail.id, VoicemailMail.node, VoicemailMail.message_key,
                   VoicemailMail.mailbox, VoicemailMail.recipient, VoicemailMail.mail,
                   VoicemailMail.attempts)
        .execution_options(synchronize_session=False))).first()
    return None if claimed is None else DueMail(*claimed)


async def record_attempt(session: AsyncSession, due: DueMail, *, at: datetime,
                         error: str | None, retry_in: timedelta | None) -> str:
    """Move the mail on after one attempt: sent (``error`` None), tried again later, or
    failed (``retry_in`` None after the last attempt). Returns the new state."""
    state = "sent" if error is None else ("pending" if retry_in is not None else "failed")
    await session.execute(update(VoicemailMail).where(VoicemailMail.id == due.id).values(
        state=state, attempts=due.attempts + 1, sent_at=at if error is None else None,
        last_error=error[:500] if error else None,
        next_attempt_at=at + retry_in if state == "pending" and retry_in else at))
    return state


async def mailbox_branch(session: AsyncSession, number: str) -> str | None:
    """The branch of extension ``number``; None when it is gone meanwhile."""
    return await session.scalar(select(Branch.slug).join(Extension.branch)
                                .where(Extension.number == number))
