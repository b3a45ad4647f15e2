"""The mail of one voicemail message, from Asterisk's ``msgNNNN.txt`` and its recording.

Pure: text and bytes in, an ASCII MIME message out. Everything taken from the message
file (the caller ID above all, which the caller chooses) passes an allow-list before it
reaches a header, and the header policy refuses CR and LF besides.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from zoneinfo import ZoneInfo

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024   # beyond this the mail says to listen with *97
CALLER_MAX = 64
_KEPT_PUNCTUATION = frozenset(" +-()._'\"<>@#*,")
_MSG_ID_RE = re.compile(r"[0-9A-Za-z-]{1,64}")


class BadMessage(ValueError):
    """A message file that is not (yet) a complete voicemail message."""


@dataclass(frozen=True)
class MessageInfo:
    """What Asterisk wrote about one message in its ``msgNNNN.txt``."""

    msg_id: str          # Asterisk's id of the message, kept when it moves between folders
    caller_id: str       # as the caller sent it: never trusted
    recorded_at: datetime
    seconds: int


@dataclass(frozen=True)
class Mailbox:
    """Whose message it is and where the mail goes."""

    node: str
    number: str
    name: str
    timezone: str
    recipient: str


def parse_info(text: str) -> MessageInfo:
    """The ``[message]`` section of a ``msgNNNN.txt``; :class:`BadMessage` when a field
    is missing (Asterisk writes the file before the recording is complete)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith((";", "[")):
            fields[key.strip()] = value.strip()
    try:
        origtime, duration = int(fields["origtime"]), int(fields["duration"])
    except (KeyError, ValueError):
        raise BadMessage("no origtime or duration") from None
    msg_id = fields.get("msg_id", "")
    if not _MSG_ID_RE.fullmatch(msg_id):
        raise BadMessage(f"msg_id {msg_id[:70]!r} is not one Asterisk writes")
    return MessageInfo(msg_id=msg_id, caller_id=fields.get("callerid", ""),
                       recorded_at=datetime.fromtimestamp(origtime, UTC),
                       seconds=max(duration, 0))


def caller_text(caller_id: str) -> str:
    """The caller ID as a header may show it: letters and digits of any script, space
    and ``+ - ( ) . _ ' " < > @ # * ,`` only, runs of space as one, 64 characters at
    most; "unknown caller" when nothing is left."""
    kept = "".join(c if unicodedata.category(c)[0] in "LN" or c in _KEPT_PUNCTUATION
                   else " " for c in caller_id)
    text = " ".join(kept.split())[:CALLER_MAX].strip()
    return text or "unknown caller"


def _duration(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def build_mail(box: Mailbox, info: MessageInfo, recording: bytes, sender: str
               ) -> EmailMessage:
    """The mail of the message: to the mailbox's address, dated and worded in its
    branch's zone, the recording attached as WAV (unless larger than
    :data:`MAX_ATTACHMENT_BYTES`)."""
    local = info.recorded_at.astimezone(ZoneInfo(box.timezone))
    caller = caller_text(info.caller_id)
    mail = EmailMessage(policy=SMTP)
    mail["From"] = Address("Voicemail", addr_spec=sender)
    mail["To"] = Address(addr_spec=box.recipient)
    mail["Subject"] = f"Voicemail for {box.number} from {caller} ({_duration(info.seconds)})"
    mail["Date"] = format_datetime(local)
    mail["Message-ID"] = (f"<voicemail.{box.node}.{box.number}.{info.msg_id}"
                          f"@{sender.rsplit('@', 1)[1]}>")
    attached = len(recording) <= MAX_ATTACHMENT_BYTES
    mail.set_content(
        f"A voicemail message for {box.number} ({box.name}).\n\n"
        f"From:     {caller}\n"
        f"Left:     {local:%A %d %B %Y, %H:%M} ({box.timezone})\n"
        f"Length:   {_duration(info.seconds)}\n\n"
        + ("The recording is attached. " if attached else
           "The recording is too large to attach. ")
        + "The message stays in the mailbox: dial *97 to listen to it or delete it.\n",
        cte="quoted-printable")
    if attached:
        mail.add_attachment(recording, maintype="audio", subtype="wav",
                            filename=f"voicemail-{box.number}-{local:%Y%m%d-%H%M%S}.wav")
    return mail
