"""Webhook events from what a node reports over AMI. Pure.

The dialplan announces every call to a company number with a ``UserEvent`` (its name is
``names.ASTERISK.user_event``), read as a :class:`~pbxctl.ami_events.CallStage`:
``Stage: ringing`` when it reaches its destination, ``answered`` when a phone takes it,
``ended`` from the call's hangup handler. A call that ends with no phone having answered
it is a missed call, also when the person's mailbox took a message (only a phone's answer
sends ``answered``).
Stored CDRs become ``cdr.rated`` events, bans ``security.banned`` events, and the spend
brake sends ``spend.warning`` and ``spend.blocked``, a failed scheduled backup
``backup.failed``, a voicemail mail given up after its last attempt
``voicemail.mail_failed``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pbxctl.ami_events import CallStage

EVENT_NAMES = ("call.ringing", "call.answered", "call.missed", "cdr.rated", "security.banned",
               "spend.warning", "spend.blocked", "backup.failed", "voicemail.mail_failed")
_NUMBER_RE = re.compile(r"\+?[0-9]{1,20}")
_EXTENSION_RE = re.compile(r"[0-9]{2,6}")
_BRANCH_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_QUEUE_RE = re.compile(r"[a-z][a-z0-9-]{0,31}/[a-z][a-z0-9-]{0,31}")
_CALL_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
FORGET_AFTER = timedelta(hours=12)  # a call whose end never came (link lost meanwhile)


@dataclass(frozen=True)
class WebhookEvent:
    """One event to deliver: ``key`` makes it unique (queued once per webhook)."""

    name: str
    key: str
    branch: str | None
    payload: dict[str, Any]


@dataclass
class _Call:
    call_id: str
    caller: str | None
    called: str | None
    branch: str | None
    queue: str | None
    ringing_at: datetime
    answered_at: datetime | None = None
    extension: str | None = None

    def payload(self, ended_at: datetime | None = None) -> dict[str, Any]:
        return {"id": self.call_id, "caller": self.caller, "called": self.called,
                "branch": self.branch, "queue": self.queue, "extension": self.extension,
                "ringing_at": _iso(self.ringing_at), "answered_at": _iso(self.answered_at),
                "ended_at": _iso(ended_at)}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def _allowed(pattern: re.Pattern[str], value: str | None) -> str | None:
    return value if value and pattern.fullmatch(value) else None


@dataclass
class CallEvents:
    """Follows calls to company numbers through their user events."""

    node: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _calls: dict[str, _Call] = field(default_factory=dict)

    def feed(self, event: CallStage) -> list[WebhookEvent]:
        """Take one call stage; the webhook events it causes come back."""
        call_id = _allowed(_CALL_ID_RE, event.call_id)
        if call_id is None:
            return []
        now = self.clock()
        stage = event.stage
        if stage == "ringing":
            self._forget_older_than(now - FORGET_AFTER)
            ringing = _Call(call_id, _allowed(_NUMBER_RE, event.caller),
                            _allowed(_NUMBER_RE, event.number),
                            _allowed(_BRANCH_RE, event.branch),
                            _allowed(_QUEUE_RE, event.queue), now)
            self._calls[call_id] = ringing
            return [self._event("call.ringing", ringing, ringing.payload())]
        call = self._calls.get(call_id)
        if call is None:
            return []
        if stage == "answered" and call.answered_at is None:
            call.answered_at = now
            call.extension = _allowed(_EXTENSION_RE, event.extension)
            return [self._event("call.answered", call, call.payload())]
        if stage == "ended":
            del self._calls[call_id]
            if call.answered_at is None:
                return [self._event("call.missed", call, call.payload(ended_at=now))]
        return []

    def _event(self, name: str, call: _Call, body: dict[str, Any]) -> WebhookEvent:
        return WebhookEvent(name, f"{self.node}:{call.call_id}:{name}", call.branch,
                            {"event": name, "node": self.node, "call": body})

    def _forget_older_than(self, cutoff: datetime) -> None:
        for call_id in [k for k, c in self._calls.items() if c.ringing_at < cutoff]:
            del self._calls[call_id]


def cdr_rated_event(record: Mapping[str, object]) -> WebhookEvent:
    """A stored call record (columns as stored) as a ``cdr.rated`` event."""

    def text(name: str) -> str | None:
        value = record.get(name)
        if value is None:
            return None
        return _iso(value) if isinstance(value, datetime) else str(value)

    body: dict[str, object] = {name: text(name) for name in (
        "uniqueid", "start", "answer", "end", "src", "dst", "disposition", "direction",
        "department", "carrier", "destination", "prefix", "currency", "unrated_reason")}
    body.update({"billsec": record.get("billsec"), "duration": record.get("duration"),
                 "charged_seconds": record.get("charged_seconds"), "cost": text("cost"),
                 "rated": record.get("cost") is not None})
    department = text("department")
    return WebhookEvent("cdr.rated", f"{record.get('key')}:cdr.rated",
                        department if department and _BRANCH_RE.fullmatch(department)
                        else None, {"event": "cdr.rated", "node": record.get("node"),
                                    "cdr": body})


def security_banned_event(ban_id: int, address: str, reason: str, failures: int,
                          banned_at: datetime, expires_at: datetime) -> WebhookEvent:
    """A source address was banned (for every branch: it goes to webhooks of no branch)."""
    return WebhookEvent("security.banned", f"ban:{ban_id}:security.banned", None, {
        "event": "security.banned", "ban": {
            "id": ban_id, "address": address, "reason": reason, "failures": failures,
            "banned_at": _iso(banned_at), "expires_at": _iso(expires_at)}})


def spend_event(name: str, department: str, month: str, at: datetime,
                figures: dict[str, str]) -> WebhookEvent:
    """A department's spend reached its warning level (``spend.warning``) or its cap
    (``spend.blocked``: its outbound calls are blocked); to the department's branch's
    webhooks when it is a branch, and to those of no branch."""
    return WebhookEvent(name, f"spend:{department}:{month}:{_iso(at)}:{name}",
                        department if _BRANCH_RE.fullmatch(department) else None,
                        {"event": name, "at": _iso(at), "spend": figures})


def backup_failed_event(at: datetime, file: str, error: str) -> WebhookEvent:
    """A scheduled backup failed (for every branch: it goes to webhooks of no branch)."""
    return WebhookEvent("backup.failed", f"backup:{_iso(at)}:backup.failed", None, {
        "event": "backup.failed", "at": _iso(at), "backup": {"file": file, "error": error}})


def voicemail_mail_failed_event(mail_id: int, node: str, message_key: str, mailbox: str,
                                branch: str | None, recipient: str, attempts: int,
                                error: str, at: datetime) -> WebhookEvent:
    """The mail of a voicemail message was given up after its last attempt (to the
    mailbox's branch's webhooks, and those of no branch); the message stays in the
    mailbox."""
    return WebhookEvent("voicemail.mail_failed",
                        f"voicemail:{node}:{message_key}:voicemail.mail_failed",
                        branch if branch and _BRANCH_RE.fullmatch(branch) else None, {
                            "event": "voicemail.mail_failed", "at": _iso(at), "node": node,
                            "mail": {"id": mail_id, "message": message_key,
                                     "mailbox": mailbox, "branch": branch,
                                     "recipient": recipient, "attempts": attempts,
                                     "error": error}})
