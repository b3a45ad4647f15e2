"""Exceptions shared by services, rendering and the interfaces on top of them."""

from __future__ import annotations

import re
from collections.abc import Callable

FieldNamer = Callable[[str], str]
_MENTION_RE = re.compile(r"`([a-z][a-z0-9_]*)`")


def as_is(field: str) -> str:
    """Fields named as the services name them: the API's JSON field names."""
    return field


class PbxctlError(Exception):
    """Base class: a runtime failure with a message meant for the operator.

    ``field`` names the input the error is about (as the services and the API name it,
    e.g. ``members``; several joined by ``/``); each interface presents it in its own
    words (the CLI as ``--members``)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def describe(self, name: FieldNamer = as_is) -> str:
        """The message, after the field, every field named by ``name`` (in the message, a
        field is written between backquotes: ``needs `dialing```)."""
        text = _MENTION_RE.sub(lambda found: name(found.group(1)), self.message)
        if self.field is None:
            return text
        return f"{'/'.join(name(part) for part in self.field.split('/'))}: {text}"

    def __str__(self) -> str:
        return self.describe()


class ValidationError(PbxctlError):
    """User input was refused; ``field`` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)
        self.field: str = field


class NotFoundError(PbxctlError):
    """A referenced object does not exist."""


class ConflictError(PbxctlError):
    """The change would contradict existing state (duplicate, still in use, overlap)."""


class RenderError(PbxctlError):
    """A template could not be rendered, or rendered something unsafe."""


class AmiError(PbxctlError):
    """Talking to Asterisk over AMI failed."""


class ApplyError(PbxctlError):
    """An apply failed; the previous configuration was restored."""
