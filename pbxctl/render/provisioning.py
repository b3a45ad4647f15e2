"""What a phone reads when it sets itself up: which file each vendor's phone asks for on
boot, and that file's text from the ``provisioning/`` templates. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pbxctl.render.model import DEFAULT_CODECS
from pbxctl.render.templates import LINE_BREAKS, TemplateSet

SOFTPHONE = "softphone"   # the model of a device set up by a one-time link (no MAC)

# Each model's files, as the phone names them ({mac}: 12 lower-case hex digits), and the
# template of each. Yealink: <MAC>.cfg; Grandstream: cfg<MAC>.xml; Snom: the {mac} of its
# setting_server URL, <MAC>.xml here; Polycom: <MAC>.cfg, the master file naming the
# <MAC>-phone.cfg it loads next. The citations are in each template.
MODEL_FILES: dict[str, tuple[tuple[str, str], ...]] = {
    "yealink-t4x": (("{mac}.cfg", "yealink-t4x.cfg.j2"),),
    "grandstream-grp": (("cfg{mac}.xml", "grandstream-grp.xml.j2"),),
    "snom-d7xx": (("{mac}.xml", "snom-d7xx.xml.j2"),),
    "polycom-vvx": (("{mac}.cfg", "polycom-vvx.cfg.j2"),
                    ("{mac}-phone.cfg", "polycom-vvx-phone.cfg.j2")),
    "generic": (("{mac}.cfg", "generic.cfg.j2"),),
}
MODELS = tuple(MODEL_FILES)
# What a one-time link serves: Linphone's remote provisioning, or the account as text.
LINPHONE_FILE, ACCOUNT_FILE = "linphone.xml", "account.txt"
SOFTPHONE_FILES = {LINPHONE_FILE: "linphone.xml.j2", ACCOUNT_FILE: "sip-account.txt.j2"}

_FILE_RE = re.compile(r"(?:cfg)?(?P<mac>[0-9a-f]{12})(?:-phone)?\.(?:cfg|xml)")


def mac_of(file_name: str) -> str | None:
    """The MAC a requested file name holds (phones ask in either case); None when the
    name is not one a phone asks for."""
    found = _FILE_RE.fullmatch(file_name.lower())
    return None if found is None else found["mac"]


def template_of(model: str, mac: str, file_name: str) -> str | None:
    """The template of ``file_name`` for a phone of ``model`` at ``mac``; None when that
    model never asks for that name."""
    for pattern, template in MODEL_FILES.get(model, ()):
        if pattern.format(mac=mac) == file_name.lower():
            return template
    return None


def media_type(file_name: str) -> str:
    """The Content-Type of a served file."""
    return "application/xml" if file_name.endswith(".xml") else "text/plain"


@dataclass(frozen=True)
class Colleague:
    """A busy-lamp key: a colleague of the same branch."""

    number: str
    name: str


@dataclass(frozen=True)
class PhoneSetup:
    """Everything a provisioning template gets as ``phone``."""

    model: str
    mac: str | None
    number: str
    display_name: str
    auth_user: str           # the device's own login (its password is its own too)
    password: str
    server: str
    port: int
    realm: str
    timezone: str            # the branch's, IANA name
    utc_offset: int          # seconds east of UTC now (phones re-read their file daily)
    colleagues: tuple[Colleague, ...] = ()
    language: str = "en"     # the branch's, ISO 639-1 (validation.LANGUAGES)
    transport: str = "udp"
    codecs: tuple[str, ...] = DEFAULT_CODECS

    @property
    def utc_offset_hours(self) -> str:
        """The offset as ``+3``, ``-5`` or ``+5:30``."""
        sign = "-" if self.utc_offset < 0 else "+"
        hours, seconds = divmod(abs(self.utc_offset), 3600)
        return f"{sign}{hours}" + (f":{seconds // 60:02d}" if seconds else "")


def utc_offset(timezone: str, at: datetime) -> int:
    """Seconds east of UTC in ``timezone`` at ``at``."""
    offset = at.astimezone(ZoneInfo(timezone)).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def provisioning_templates(override_dir: Path | None = None) -> TemplateSet:
    """The templates of phones' files (an operator's directory shadows them file by
    file, as it does the Asterisk ones); values may hold XML escapes, never line breaks."""
    return TemplateSet(override_dir, refused=LINE_BREAKS)


def render_setup(templates: TemplateSet, template: str, phone: PhoneSetup) -> str:
    """The text of one provisioning file."""
    return templates.render(template, phone=phone)
