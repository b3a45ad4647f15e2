"""What an apply would change: per-file unified diffs with secrets masked, and which
Asterisk modules must reload."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from pbxctl import names

# File -> what to reload over AMI (the Reload action's Module). None: needs a restart.
RELOAD_MODULE: dict[str, str | None] = {
    "pjsip.conf": "res_pjsip.so",
    names.ASTERISK.bans_file: "res_pjsip.so",
    "extensions.conf": "pbx_config.so",
    "voicemail.conf": "app_voicemail.so",
    "manager.conf": "manager",
    "logger.conf": "logger",
    "rtp.conf": "res_rtp_asterisk.so",
    "cdr.conf": "cdr",
    "cdr_manager.conf": "cdr_manager.so",
    "acl.conf": "acl",
    "cel.conf": "cel",
    "features.conf": "features",
    "udptl.conf": "udptl",
    "indications.conf": "indications",
    "ccss.conf": None,
    "pjproject.conf": "res_pjproject.so",
    "queues.conf": "app_queue.so",
    "queuerules.conf": "app_queue.so",
    "asterisk.conf": None,
    "stasis.conf": None,
    "modules.conf": None,
}

# Options read only when Asterisk starts, though their file reloads (res_pjsip orders its
# endpoint identifiers once, at start: measured on Asterisk 22).
STARTUP_OPTIONS: dict[str, tuple[str, ...]] = {"pjsip.conf": ("endpoint_identifier_order",)}

_SECRET_LINE_RE = re.compile(
    r"^(?P<key>[-+ ]?\s*(secret|password|password_digest|md5_cred)\s*=\s*).+$", re.MULTILINE)
# voicemail.conf's mailbox line: NUMBER => PIN,name,…
_MAILBOX_PIN_RE = re.compile(r"^(?P<key>[-+ ]?\s*[0-9]+\s*=>\s*)[^,\s][^,\n]*(?=,)", re.MULTILINE)


def mask_secrets(text: str) -> str:
    """The text with the value of every secret-bearing option, and every mailbox's PIN,
    replaced by ``********``."""
    masked = _SECRET_LINE_RE.sub(lambda m: m.group("key") + "********", text)
    return _MAILBOX_PIN_RE.sub(lambda m: m.group("key") + "********", masked)


@dataclass(frozen=True)
class FileChange:
    """One file whose rendered text differs from what is on the node."""

    name: str
    old: str | None
    new: str

    @property
    def diff(self) -> str:
        """A unified diff, secrets masked, safe to print; a changed secret still shows as
        a changed (masked) line."""
        old_lines = (self.old or "").splitlines(keepends=True)
        new_lines = self.new.splitlines(keepends=True)
        fromfile = f"a/{self.name}" if self.old is not None else "/dev/null"
        lines = difflib.unified_diff(old_lines, new_lines, fromfile, f"b/{self.name}")
        return "".join(mask_secrets(line) for line in lines)


@dataclass(frozen=True)
class Plan:
    """The changes an apply makes on one node."""

    node: str
    changes: tuple[FileChange, ...]

    @property
    def empty(self) -> bool:
        """True when the node already runs what the database describes."""
        return not self.changes

    @property
    def reloads(self) -> tuple[str, ...]:
        """Modules to reload, in a stable order, each once."""
        modules = (RELOAD_MODULE.get(c.name) for c in self.changes)
        return tuple(dict.fromkeys(m for m in modules if m is not None))

    @property
    def needs_restart(self) -> tuple[str, ...]:
        """Changed files that only take effect (in part: a startup option) when Asterisk
        restarts."""
        return tuple(c.name for c in self.changes
                     if RELOAD_MODULE.get(c.name) is None or _startup_option_changed(c))

    @property
    def modules_to_load(self) -> tuple[str, ...]:
        """Modules that a changed modules.conf adds; apply loads them right away."""
        for change in self.changes:
            if change.name == "modules.conf":
                old = set(_loaded_modules(change.old or ""))
                return tuple(m for m in _loaded_modules(change.new) if m not in old)
        return ()

    @property
    def diff(self) -> str:
        """All diffs, file by file."""
        return "".join(c.diff for c in self.changes)


def _startup_option_changed(change: FileChange) -> bool:
    for option in STARTUP_OPTIONS.get(change.name, ()):
        lines = re.compile(rf"^\s*{option}\s*=.*$", re.MULTILINE)
        if lines.findall(change.old or "") != lines.findall(change.new):
            return True
    return False


def _loaded_modules(modules_conf: str) -> list[str]:
    return _LOAD_RE.findall(modules_conf)


_LOAD_RE = re.compile(r"^\s*load\s*=>?\s*([A-Za-z0-9_]+\.so)\s*$", re.MULTILINE)


def make_plan(node: str, rendered: dict[str, str], current: dict[str, str | None]) -> Plan:
    """Compare rendered files with the node's current files."""
    changes = tuple(FileChange(name, current.get(name), text)
                    for name, text in rendered.items() if current.get(name) != text)
    return Plan(node=node, changes=changes)
