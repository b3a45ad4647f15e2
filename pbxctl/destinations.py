"""Destinations: one typed reference used by numbers, after-hours routes and overflows.

``ext:201``, ``branch:kazan``, ``queue:kazan/sales``, ``voicemail:201``,
``external:+46701234567`` and ``hangup``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pbxctl.errors import ValidationError
from pbxctl.validation import E164_RE, EXTENSION_RE, SLUG_RE

KINDS = ("ext", "branch", "queue", "voicemail", "external", "hangup")


@dataclass(frozen=True)
class Destination:
    """A parsed destination; ``target`` is the part after the colon (empty for hangup)."""

    kind: str
    target: str

    def __str__(self) -> str:
        return self.kind if self.kind == "hangup" else f"{self.kind}:{self.target}"


_TARGET_RULES: dict[str, re.Pattern[str]] = {
    "ext": EXTENSION_RE,
    "voicemail": EXTENSION_RE,
    "branch": SLUG_RE,
    "queue": re.compile(rf"(?:{SLUG_RE.pattern})/(?:{SLUG_RE.pattern})"),
    "external": E164_RE,
}


def parse_destination(field: str, text: str) -> Destination:
    """Parse and check the form of a destination; existence is the services' job."""
    if text == "hangup":
        return Destination("hangup", "")
    kind, sep, target = text.partition(":")
    if not sep or kind not in _TARGET_RULES:
        raise ValidationError(field, f"{text!r} is not a destination; use one of ext:201, "
                                     "branch:kazan, queue:kazan/sales, voicemail:201, "
                                     "external:+46701234567, hangup")
    if not _TARGET_RULES[kind].fullmatch(target):
        raise ValidationError(field, f"{text!r}: {target!r} is not a valid {kind} target")
    return Destination(kind, target)
