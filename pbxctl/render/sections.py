"""Config sections as ordered ``(key, value)`` pairs, because Asterisk allows repeated keys."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pbxctl.errors import RenderError

_SECTION_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")
_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class Section:
    """One ``[name]`` block of an Asterisk .conf file."""

    name: str
    options: tuple[tuple[str, str], ...]
    comment: str | None = None

    def __post_init__(self) -> None:
        if not _SECTION_NAME_RE.fullmatch(self.name):
            raise RenderError(f"refusing to render section name {self.name!r}")
        for key, _value in self.options:
            if not _KEY_RE.fullmatch(key):
                raise RenderError(f"refusing to render option name {key!r}")


def section(name: str, *options: tuple[str, str | int], comment: str | None = None) -> Section:
    """Build a section; values are turned into text."""
    return Section(name, tuple((k, str(val)) for k, val in options), comment)
