"""Check that an edge's Kamailio runs its rendered files: every dispatcher set with
exactly its destinations, every htable with exactly its rows, exactly the rendered
carriers' networks, and exactly the rendered carrier registrations (compared, never
shown: they hold passwords)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pbxctl.errors import ApplyError
from pbxctl.kamailio.plan import DISPATCHER_FILE, table_file
from pbxctl.kamailio.rpc import KamailioRpc, RpcRefused
from pbxctl.render.edge import ADDRESSES_FILE, HTABLES, REGISTRATIONS_FILE

Destinations = dict[int, set[tuple[str, int]]]   # set id -> {(URI, priority)}
NO_SETS = "No Destination Sets"                  # dispatcher.list of an empty list
# uacreg columns (after id) and uac.reg_dump fields compared, in the file's order
REGISTRATION_FIELDS = ("l_uuid", "l_username", "l_domain", "r_username", "r_domain", "realm",
                       "auth_username", "auth_password", "auth_ha1", "auth_proxy")
COMPARED_FIELDS = ("r_username", "r_domain", "auth_username", "auth_password", "auth_proxy")
Registrations = dict[str, tuple[str, ...]]       # l_uuid -> its COMPARED_FIELDS
Networks = set[tuple[int, str, str]]             # {(group, network, tag)}
SHOWN_AT_MOST = 5


async def verify(rpc: KamailioRpc, rendered: dict[str, str]) -> int:
    """Compare what Kamailio shows with ``rendered``; the number of destinations it
    shows, or :class:`ApplyError` naming the differences."""
    expected = rendered_destinations(rendered[DISPATCHER_FILE])
    try:
        shown = shown_destinations(await rpc.call("dispatcher.list"))
    except RpcRefused as refused:
        if NO_SETS not in refused.message:
            raise
        shown = {}
    if shown != expected:
        raise ApplyError(f"verification failed: Kamailio's dispatcher shows "
                         f"{_describe(shown)}, {_describe(expected)} rendered")
    for table in HTABLES:
        rows = rendered_rows(rendered[table_file(table)])
        loaded = shown_rows(await rpc.call("htable.dump", table))
        if loaded != rows:
            raise ApplyError(f"verification failed: Kamailio's htable {table} holds "
                             f"{len(loaded)} row(s), {len(rows)} rendered; "
                             f"{_difference(rows, loaded)}")
    networks = rendered_networks(rendered[ADDRESSES_FILE])
    loaded_networks = shown_networks(await rpc.call("permissions.addressDump"),
                                     await rpc.call("permissions.subnetDump"))
    if loaded_networks != networks:
        differ = sorted(f"{net} ({tag})" for _, net, tag in networks ^ loaded_networks)
        raise ApplyError("verification failed: Kamailio's carrier networks differ from the "
                         f"rendered ones in {', '.join(differ[:SHOWN_AT_MOST])}"
                         + (" …" if len(differ) > SHOWN_AT_MOST else ""))
    rendered_regs = rendered_registrations(rendered[REGISTRATIONS_FILE])
    shown_regs = shown_registrations(await rpc.call("uac.reg_dump"))
    if shown_regs != rendered_regs:
        differ = sorted(k for k in rendered_regs.keys() | shown_regs.keys()
                        if rendered_regs.get(k) != shown_regs.get(k))
        raise ApplyError(f"verification failed: Kamailio's carrier registrations differ "
                         f"from the rendered ones for {', '.join(differ)}")
    return sum(len(d) for d in shown.values())


def rendered_registrations(uacreg: str) -> Registrations:
    """The registrations of a rendered uacreg file (``\\:`` read as ``:``)."""
    found: Registrations = {}
    for line in uacreg.splitlines()[1:]:
        fields = [f.replace("\\:", ":") for f in re.split(r"(?<!\\):", line)][1:]
        row = dict(zip(REGISTRATION_FIELDS, fields, strict=False))
        found[row["l_uuid"]] = tuple(row[k] for k in COMPARED_FIELDS)
    return found


def shown_registrations(result: Any) -> Registrations:
    """The registrations of a ``uac.reg_dump`` result (a list of records)."""
    try:
        return {str(r["l_uuid"]): tuple(str(r[k]) for k in COMPARED_FIELDS) for r in result or []}
    except (KeyError, TypeError) as exc:
        raise ApplyError("verification failed: uac.reg_dump answered in an unknown shape "
                         f"(missing {exc})") from None


def rendered_networks(address_table: str) -> Networks:
    """The networks of a rendered address table (``id:grp:ip:mask:port:tag``, ``\\:`` read
    as ``:``)."""
    found: Networks = set()
    for line in address_table.splitlines()[1:]:
        _, group, address, mask, _, tag = re.split(r"(?<!\\):", line)
        unescaped = address.replace("\\:", ":")
        network = ipaddress.ip_network(f"{unescaped}/{mask}")
        found.add((int(group), str(network), tag))
    return found


def shown_networks(addresses: Any, subnets: Any) -> Networks:
    """The networks of ``permissions.addressDump`` (single addresses) and
    ``permissions.subnetDump`` results."""
    found: Networks = set()
    try:
        for record in [*(addresses or []), *(subnets or [])]:
            item = record["item"]
            address = ipaddress.ip_address(item["ip"])
            mask = item.get("mask", address.max_prefixlen)
            found.add((int(record["group"]), str(ipaddress.ip_network(f"{address}/{mask}")),
                       str(item["tag"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise ApplyError("verification failed: permissions.addressDump or subnetDump "
                         f"answered in an unknown shape ({exc!r})") from exc
    return found


def rendered_destinations(dispatcher_list: str) -> Destinations:
    """The sets of a rendered dispatcher.list (``setid URI flags priority attrs``)."""
    sets: Destinations = {}
    for line in dispatcher_list.splitlines():
        if line.strip() and not line.startswith("#"):
            set_id, uri, _flags, priority, *_attrs = line.split()
            sets.setdefault(int(set_id), set()).add((uri, int(priority)))
    return sets


def shown_destinations(result: Any) -> Destinations:
    """The sets of a ``dispatcher.list`` result."""
    sets: Destinations = {}
    try:
        for record in result["RECORDS"]:
            found = record["SET"]
            for target in found.get("TARGETS", []):
                dest = target["DEST"]
                sets.setdefault(int(found["ID"]), set()).add(
                    (str(dest["URI"]), int(dest["PRIORITY"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise ApplyError(f"verification failed: dispatcher.list answered in an unknown "
                         f"shape ({exc!r})") from exc
    return sets


def rendered_rows(db_text: str) -> dict[str, str]:
    """An htable's rows in its rendered db_text file (a header line, then
    ``key:type:type:value:expires``)."""
    return {key: value for key, _, _, value, _ in
            (line.split(":") for line in db_text.splitlines()[1:] if line)}


def shown_rows(result: Any) -> dict[str, str]:
    """The rows of an ``htable.dump`` result (a list of slots, each with its items)."""
    try:
        return {str(item["name"]): str(item["value"])
                for slot in result or [] for item in slot["slot"]}
    except (KeyError, TypeError) as exc:
        raise ApplyError(f"verification failed: htable.dump answered in an unknown shape "
                         f"({exc!r})") from exc


def _describe(sets: Destinations) -> str:
    if not sets:
        return "no set"
    return "; ".join(f"set {set_id}: " + ", ".join(
        f"{uri} (priority {priority})" for uri, priority in sorted(members))
        for set_id, members in sorted(sets.items()))


def _difference(rendered: dict[str, str], loaded: dict[str, str]) -> str:
    missing = sorted(k for k in rendered if loaded.get(k) != rendered[k])
    extra = sorted(k for k in loaded if k not in rendered)
    parts = []
    if missing:
        parts.append(f"not as rendered: {', '.join(missing[:SHOWN_AT_MOST])}"
                     + (" …" if len(missing) > SHOWN_AT_MOST else ""))
    if extra:
        parts.append(f"not rendered: {', '.join(extra[:SHOWN_AT_MOST])}"
                     + (" …" if len(extra) > SHOWN_AT_MOST else ""))
    return "; ".join(parts)
