"""serve's voicemail to e-mail: finds new messages in the nodes' voicemail spools, queues
each one's mail once (:mod:`pbxctl.voicemail.outbox`), and sends the queue over SMTP
(STARTTLS, AUTH) with retries and backoff, giving up after ``mail_max_attempts``.

The whole mail is queued, the recording inside it, so a message listened to or deleted
at ``*97`` before the SMTP server answers is still mailed; a sent mail is marked in the
database and never sent again, so a restart of serve re-sends nothing. Asterisk keeps the
message: it stays reachable at ``*97``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl import validation as v
from pbxctl.backup.media import voicemail_dir
from pbxctl.db.faults import is_transient
from pbxctl.db.session import transaction
from pbxctl.errors import PbxctlError
from pbxctl.settings import Settings
from pbxctl.stopping import sleep_unless
from pbxctl.voicemail.mail import BadMessage, MessageInfo, build_mail, parse_info
from pbxctl.voicemail.outbox import (
    DueMail,
    WatchedMailbox,
    claim_due_mail,
    enqueue,
    known_keys,
    mailbox_branch,
    record_attempt,
    watched_mailboxes,
)
from pbxctl.webhooks import outbox as webhooks
from pbxctl.webhooks.delivery import retry_delay
from pbxctl.webhooks.events import voicemail_mail_failed_event

log = logging.getLogger(__name__)
_MESSAGE_RE = re.compile(r"msg[0-9]{4}\.txt")
MAX_INFO_BYTES = 64 * 1024
SETTLE_SECONDS = 1.0   # a recording changed this recently may still be being written
# A claimed mail is left to its sender for this many SMTP timeouts (connect, EHLO,
# STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT each wait at most one): longer than any attempt.
CLAIM_TIMEOUTS = 10


@dataclass(frozen=True)
class SmtpServer:
    """Where and how mails are sent."""

    host: str
    port: int
    starttls: bool
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout: float = 30.0


@dataclass(frozen=True)
class MailPolicy:
    """How often the spools are read, and when a failed mail is tried again."""

    first_delay: float = 30.0
    max_delay: float = 3600.0
    max_attempts: int = 12
    scan_every: float = 5.0
    poll_interval: float = 1.0
    batch: int = 20


def smtp_server(settings: Settings) -> SmtpServer | None:
    """The SMTP server of the settings (None: voicemail is not mailed); errors name the
    setting at fault. The password is read from ``smtp_password_file``, which only its
    owner may read."""
    if settings.smtp_host is None:
        return None
    if settings.smtp_from is None:
        raise PbxctlError("needed with `smtp_host`: the address voicemail is mailed from",
                          "smtp_from")
    sender = v.email("smtp_from", settings.smtp_from)
    if (settings.smtp_username is None) != (settings.smtp_password_file is None):
        raise PbxctlError("`smtp_username` and `smtp_password_file` go together",
                          "smtp_username/smtp_password_file")
    password = None
    if settings.smtp_password_file is not None:
        if not settings.smtp_starttls:
            raise PbxctlError("AUTH needs `smtp_starttls`: the password would cross the "
                              "network in clear", "smtp_starttls")
        password = _password(settings.smtp_password_file)
    if settings.smtp_ca_file is not None:
        try:
            ssl.create_default_context(cafile=settings.smtp_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise PbxctlError(f"{settings.smtp_ca_file}: {exc}", "smtp_ca_file") from None
    return SmtpServer(settings.smtp_host, settings.smtp_port, settings.smtp_starttls, sender,
                      settings.smtp_username, password, settings.smtp_ca_file,
                      settings.smtp_timeout)


def _password(path: Path) -> str:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        line = path.read_text().split("\n", 1)[0].removesuffix("\r")
    except (OSError, UnicodeDecodeError) as exc:
        raise PbxctlError(str(exc), "smtp_password_file") from None
    if mode & 0o077:
        raise PbxctlError(f"{path} is mode {mode:o}: others could read the SMTP password; "
                          "chmod 600 it", "smtp_password_file")
    if not line:
        raise PbxctlError(f"{path}: the password is empty", "smtp_password_file")
    return line


class MailOutcomes(Protocol):
    """Told what the mailer did (for /metrics)."""

    def mail_sent(self) -> None:
        """A mail was accepted by the SMTP server."""
        ...

    def mail_failed_attempt(self) -> None:
        """An attempt failed (a retry may follow)."""
        ...

    def mail_gave_up(self) -> None:
        """A mail will not be attempted again."""
        ...


def ready_messages(inbox: Path, now: float) -> list[tuple[MessageInfo, Path]]:
    """The complete messages of a mailbox's INBOX: what each ``msgNNNN.txt`` says and
    its recording's path; links never followed, recordings still being written and
    files Asterisk has not finished left for the next look."""
    try:
        names = sorted(n for n in os.listdir(inbox) if _MESSAGE_RE.fullmatch(n))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        recording = inbox / name.replace(".txt", ".wav")
        try:
            if now - os.lstat(recording).st_mtime < SETTLE_SECONDS:
                continue
            text = _read(inbox / name, MAX_INFO_BYTES).decode("utf-8", "replace")
            found.append((parse_info(text), recording))
        except (OSError, BadMessage):   # not there yet, gone meanwhile, a link, half written
            continue
    return found


def _read(path: Path, limit: int | None) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        return handle.read(-1 if limit is None else limit)


async def queue_new_messages(engine: AsyncEngine, server: SmtpServer) -> int:
    """Queue the mail of every message not queued before; returns how many were."""
    async with transaction(engine) as session:
        watched = await watched_mailboxes(session)
    queued = 0
    for mailbox in watched:
        queued += await _queue_mailbox(engine, server, mailbox)
    return queued


async def _queue_mailbox(engine: AsyncEngine, server: SmtpServer, mailbox: WatchedMailbox
                         ) -> int:
    box = mailbox.box
    inbox = voicemail_dir(mailbox.recordings_dir) / box.number / "INBOX"
    found = await asyncio.to_thread(ready_messages, inbox, time.time())
    keyed = {f"{box.number}/{info.msg_id}": (info, path) for info, path in found}
    queued = 0
    async with transaction(engine) as session:
        known = await known_keys(session, box.node, list(keyed))
        for key, (info, path) in keyed.items():
            if key in known:
                continue       # only new messages' recordings are read
            try:
                recording = await asyncio.to_thread(_read, path, None)
                mail = build_mail(box, info, recording, server.sender).as_bytes()
            except OSError:
                continue       # gone meanwhile (listened to and deleted): never mailed
            except ValueError as exc:   # a header the policy refuses: never sent
                log.error("voicemail %s on node %s cannot be mailed: %s", key, box.node, exc)
                continue
            if await enqueue(session, box, key, mail.decode("ascii")):
                queued += 1
                log.info("voicemail %s on node %s queued for mailing", key, box.node)
    return queued


async def send_due(engine: AsyncEngine, server: SmtpServer, policy: MailPolicy,
                   outcomes: MailOutcomes) -> int:
    """Attempt the mails due now (a batch at most), one after another, each claimed
    first so that a second ``serve`` on the same database never sends it too; returns
    how many were attempted. Due means due when the round began: a mail tried again
    soon waits for the next round."""
    lease = timedelta(seconds=server.timeout * CLAIM_TIMEOUTS)
    began = datetime.now(UTC)
    attempted = 0
    while attempted < policy.batch:
        async with transaction(engine) as session:
            mail = await claim_due_mail(session, began, datetime.now(UTC) + lease)
        if mail is None:
            break
        attempted += 1
        error = await _send(server, mail)
        at = datetime.now(UTC)
        async with transaction(engine) as session:
            state = await record_attempt(
                session, mail, at=at, error=error,
                retry_in=None if error is None else retry_delay(mail.attempts + 1, policy))
            if error is not None and state == "failed":
                await webhooks.enqueue(session, [voicemail_mail_failed_event(
                    mail.id, mail.node, mail.message_key, mail.mailbox,
                    await mailbox_branch(session, mail.mailbox), mail.recipient,
                    mail.attempts + 1, error, at)])
        if error is None:
            outcomes.mail_sent()
            continue
        outcomes.mail_failed_attempt()
        if state == "failed":
            outcomes.mail_gave_up()
            log.error("voicemail mail %d to %s failed %d times (%s); giving up", mail.id,
                      mail.recipient, mail.attempts + 1, error)
        else:
            log.warning("voicemail mail %d to %s failed (%s); trying again", mail.id,
                        mail.recipient, error)
    return attempted


async def _send(server: SmtpServer, mail: DueMail) -> str | None:
    """None when the server accepted the mail, else what went wrong."""
    try:
        tls = ssl.create_default_context(cafile=server.ca_file) if server.starttls else None
        await aiosmtplib.send(
            mail.mail.encode("ascii"), sender=server.sender, recipients=[mail.recipient],
            hostname=server.host, port=server.port, start_tls=server.starttls,
            username=server.username, password=server.password, tls_context=tls,
            timeout=server.timeout)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return None


class VoicemailMailer:
    """serve's task: reads the spools every ``scan_every`` seconds and sends what is due."""

    def __init__(self, engine: AsyncEngine, server: SmtpServer, policy: MailPolicy,
                 outcomes: MailOutcomes) -> None:
        self._engine, self._server = engine, server
        self._policy, self._outcomes = policy, outcomes

    async def run(self, stop: asyncio.Event) -> None:
        """Queue and send until ``stop`` is set."""
        scanned = float("-inf")
        while not stop.is_set():
            attempted = 0
            try:
                if time.monotonic() - scanned >= self._policy.scan_every:
                    scanned = time.monotonic()
                    await queue_new_messages(self._engine, self._server)
                attempted = await send_due(self._engine, self._server, self._policy,
                                           self._outcomes)
            except Exception as error:   # a database blip must not end mailing for good
                if is_transient(error):
                    log.warning("voicemail mailing round failed (%s: %s); trying again",
                                type(error).__name__, error)
                else:
                    log.exception("voicemail mailing round failed")
            if attempted < self._policy.batch:
                await sleep_unless(stop, self._policy.poll_interval)
