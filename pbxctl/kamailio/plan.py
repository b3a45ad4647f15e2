"""What an edge apply changes: per-file diffs (as for a node), and what Kamailio must
reload over JSON-RPC for them; a kamailio.cfg change waits for a restart."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pbxctl.asterisk.plan import FileChange, make_plan
from pbxctl.render.edge import (
    ADDRESSES_FILE,
    HTABLES,
    REGISTRATIONS_FILE,
    SECRET_TABLES,
    mask_registrations,
)

CONFIG_FILE = "kamailio.cfg"
DISPATCHER_FILE = "dispatcher.list"
TABLE_VERSIONS = "db/version"
# A db_text row of an htable (key:0:0:value:0), in its file or a diff: its value is a
# secret.
_ROW_VALUE_RE = re.compile(r"^(?P<key>[-+ ]?[^:\n]+:0:0:)[^:\n]+(?P<end>:0)$", re.MULTILINE)


def table_file(table: str) -> str:
    """Where an htable's db_text file lies under the edge's config_dir."""
    return f"db/{table}"


@dataclass(frozen=True)
class Reload:
    """One JSON-RPC call that makes Kamailio read a changed file again."""

    label: str                  # as the operator reads it: ``dispatcher``, ``htable numbers``
    method: str
    params: tuple[str, ...] = ()


DISPATCHER_RELOAD = Reload("dispatcher", "dispatcher.reload")
REGISTRATIONS_RELOAD = Reload("uac registrations", "uac.reg_reload")
ADDRESSES_RELOAD = Reload("carrier addresses", "permissions.addressReload")


def htable_reload(table: str) -> Reload:
    """The reload of htable ``table`` from its db_text file."""
    return Reload(f"htable {table}", "htable.reload", (table,))


@dataclass(frozen=True)
class EdgePlan:
    """The changes an apply makes on one edge."""

    edge: str
    changes: tuple[FileChange, ...]

    @property
    def empty(self) -> bool:
        """True when the edge's files already say what the database describes."""
        return not self.changes

    @property
    def diff(self) -> str:
        """All diffs, file by file, secrets masked: the values of secret tables and the
        carriers' passwords."""
        return "".join(mask_edge_file(c.name, c.diff) for c in self.changes)

    @property
    def reloads(self) -> tuple[Reload, ...]:
        """The dispatcher first (so no number points at a set Kamailio lacks), then every
        htable whose file changed (all of them when their version table did), then the
        carriers' addresses and registrations."""
        changed = {c.name for c in self.changes}
        reloads = [DISPATCHER_RELOAD] if DISPATCHER_FILE in changed else []
        reloads += [htable_reload(t) for t in HTABLES
                    if table_file(t) in changed or TABLE_VERSIONS in changed]
        if ADDRESSES_FILE in changed or TABLE_VERSIONS in changed:
            reloads.append(ADDRESSES_RELOAD)
        if REGISTRATIONS_FILE in changed or TABLE_VERSIONS in changed:
            reloads.append(REGISTRATIONS_RELOAD)
        return tuple(reloads)

    @property
    def needs_restart(self) -> tuple[str, ...]:
        """Changed files Kamailio reads only when it starts."""
        return tuple(c.name for c in self.changes if c.name == CONFIG_FILE)


def mask_edge_file(name: str, text: str) -> str:
    """``text`` (edge file ``name``, or a diff of it) with its secrets as ``********``: the
    carriers' passwords and the values of secret tables (the phones' HA1 digests)."""
    if name == REGISTRATIONS_FILE:
        return mask_registrations(text)
    if name not in {table_file(t) for t in SECRET_TABLES}:
        return text
    return _ROW_VALUE_RE.sub(lambda m: m.group("key") + "********" + m.group("end"), text)


def make_edge_plan(edge: str, rendered: dict[str, str],
                   current: dict[str, str | None]) -> EdgePlan:
    """Compare an edge's rendered files with those in its config_dir."""
    return EdgePlan(edge, make_plan(edge, rendered, current).changes)
