"""Render an edge's Kamailio files: pure, its desired state in, file texts out.

Carriers call the edge; it recognises them by source address or network (the
permissions module's ``address`` table, group 1, tagged with the carrier's slug), looks
the called number up (``numbers`` table: number as the carrier sends it → dispatcher set,
one set per branch) and relays to the branch's node, failing over to the standby. A node
calling an extension served by another node calls the edge, which looks the extension up
(``extensions`` table → the set of its branch) and relays it the same way. The
tables are db_text files Kamailio's htable and permissions modules load; ``htable.reload``,
``permissions.addressReload`` and ``dispatcher.reload`` over JSON-RPC pick up a change
without a restart. A carrier that
needs registration is registered once, by the edge (the uac module's ``uacreg`` table,
``uac.reg_reload``), with the Contact ``sip:<carrier slug>@<edge>``.

Phones register at the edge, which authenticates them (``logins``: auth username →
extension, ``phone_ha1``: auth username → digest HA1, a secret) and forks each REGISTER
to the branch's live nodes with a Path to itself, so both reach the phone through it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from pbxctl.errors import RenderError
from pbxctl.render.templates import TemplateSet

CARRIER_HEADER = "X-Pbxctl-Carrier"   # the edge sets it on carrier calls, strips it elsewhere
INTERNAL_HEADER = "X-Pbxctl-Internal"  # a node's call to another node's extension
PHONE_HEADER = "X-Pbxctl-Phone"        # the extension of a phone the edge authenticated
PRIMARY_PRIORITY = 10                 # dispatcher algorithm 8 tries higher priorities first
STANDBY_PRIORITY = 5
HTABLES = ("numbers", "extensions", "logins", "phone_ha1")
SECRET_TABLES = ("phone_ha1",)
DB_TEXT_VERSION = 2                   # htable's table version in the db_text ``version``
UACREG_TABLE = "uacreg"
UACREG_VERSION = 5                    # the uac module's table version (Kamailio 5.5 to 6.x)
_UACREG_HEADER = ("id(int,auto) l_uuid(string) l_username(string) l_domain(string) "
                  "r_username(string) r_domain(string) realm(string,null) "
                  "auth_username(string) auth_password(string) auth_ha1(string,null) "
                  "auth_proxy(string) expires(int) flags(int) reg_delay(int) "
                  "contact_addr(string,null) socket(string,null)\n")
REGISTRATIONS_FILE = f"db/{UACREG_TABLE}"
ADDRESS_TABLE = "address"             # the permissions module's: carriers' networks
ADDRESS_VERSION = 6
ADDRESSES_FILE = f"db/{ADDRESS_TABLE}"
CARRIER_GROUP = 1                     # the address group of carriers
_ADDRESS_HEADER = ("id(int,auto) grp(int) ip_addr(string) mask(int) port(int) "
                   "tag(string,null)\n")
# Failed phone logins per source address, in memory (kamailio.cfg.j2): forgotten an hour
# after the last, the source answered 403 from the tenth on.
LOGIN_FAILURES_TABLE = "authfail"
LOGIN_FAILURES_LOCKED = 10
LOGIN_FAILURES_KEPT = 3600
REGISTRATION_EXPIRES = 3600           # as the nodes' PJSIP registrations asked
# A uacreg row (in a diff too): id, seven fields (escaped ``\:`` allowed), auth_password.
_UACREG_PASSWORD_RE = re.compile(r"^(?P<key>[-+ ]?[0-9]+(:(\\.|[^:\\\n])*){7}:)"
                                 r"(\\.|[^:\\\n])*", re.MULTILINE)
_DB_TEXT_HEADER = ("key_name(string) key_type(int) value_type(int) key_value(string) "
                   "expires(int)\n")


@dataclass(frozen=True)
class EdgeNode:
    """A node the edge relays to."""

    name: str
    sip_address: str
    sip_port: int


@dataclass(frozen=True)
class DispatcherSet:
    """A branch's nodes: its own (tried first) and an optional standby."""

    set_id: int
    branch: str
    primary: EdgeNode
    standby: EdgeNode | None = None


@dataclass(frozen=True)
class EdgeCarrier:
    """A carrier and the networks its calls come from (an address is a /32 or /128)."""

    slug: str
    networks: tuple[str, ...]


@dataclass(frozen=True)
class EdgeRegistration:
    """A carrier the edge registers with: its registrar and the credentials (a secret)."""

    slug: str
    host: str
    port: int
    username: str
    secret: str


@dataclass(frozen=True)
class EdgeNumber:
    """A called number as a carrier sends it, and the set of the branch it rings in."""

    called: str
    set_id: int


@dataclass(frozen=True)
class PhoneLogin:
    """A SIP login of a phone: its auth username (the extension or a device's name), the
    extension it registers and calls as, and the digest HA1 of its password."""

    username: str
    extension: str
    ha1: str


@dataclass(frozen=True)
class EdgeConfig:
    """Everything one edge is configured from."""

    name: str
    sip_address: str
    sip_port: int
    rpc_address: str
    rpc_port: int
    config_dir: str        # where Kamailio finds the other files
    sets: tuple[DispatcherSet, ...]
    carriers: tuple[EdgeCarrier, ...]
    numbers: tuple[EdgeNumber, ...]
    extensions: tuple[EdgeNumber, ...] = ()   # an extension and the set of its branch
    registrations: tuple[EdgeRegistration, ...] = ()
    logins: tuple[PhoneLogin, ...] = ()
    sip_realm: str = "pbxctl"                 # the realm the phones' HA1s were made with


def host_port(address: str, port: int) -> str:
    """``address:port``, an IPv6 address in brackets."""
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    return f"{host}:{port}"


def render_edge(edge: EdgeConfig, templates: TemplateSet) -> dict[str, str]:
    """{path relative to the edge's config_dir: text} of every file pbxctl owns there."""
    return {
        "kamailio.cfg": templates.render(
            "kamailio.cfg.j2", edge=edge, sip=host_port(edge.sip_address, edge.sip_port),
            rpc=host_port(edge.rpc_address, edge.rpc_port), carrier_header=CARRIER_HEADER,
            internal_header=INTERNAL_HEADER, phone_header=PHONE_HEADER, htables=HTABLES,
            uacreg=UACREG_TABLE, address_table=ADDRESS_TABLE, carrier_group=CARRIER_GROUP,
            realm=_plain(edge.sip_realm)),
        "dispatcher.list": dispatcher_list(edge.sets),
        "db/version": "table_name(string) table_version(int)\n" + "".join(
            f"{table}:{DB_TEXT_VERSION}\n" for table in HTABLES)
        + f"{UACREG_TABLE}:{UACREG_VERSION}\n" + f"{ADDRESS_TABLE}:{ADDRESS_VERSION}\n",
        "db/numbers": db_text_table(
            {n.called: str(n.set_id) for n in edge.numbers}),
        ADDRESSES_FILE: address_table(edge.carriers),
        "db/extensions": db_text_table(
            {e.called: str(e.set_id) for e in edge.extensions}),
        REGISTRATIONS_FILE: uacreg_table(edge),
        "db/logins": db_text_table({p.username: p.extension for p in edge.logins}),
        "db/phone_ha1": db_text_table({p.username: p.ha1 for p in edge.logins}),
    }


def uacreg_table(edge: EdgeConfig) -> str:
    """The uac module's registrations, one per registering carrier, sorted by slug: the
    edge registers ``<username>@<host>`` through ``sip:<host>:<port>`` with the Contact
    user ``<slug>`` (so the carrier's calls name the carrier). It holds the passwords:
    Kamailio's group reads it, nobody else (0640, like every edge file)."""
    rows = []
    for number, reg in enumerate(sorted(edge.registrations, key=lambda r: r.slug), start=1):
        fields = (reg.slug, reg.slug, edge.sip_address, reg.username, reg.host, "",
                  reg.username, reg.secret, "", f"sip:{reg.host}:{reg.port}")
        rows.append(f"{number}:" + ":".join(_escaped(f) for f in fields)
                    + f":{REGISTRATION_EXPIRES}:0:0::\n")
    return _UACREG_HEADER + "".join(rows)


def address_table(carriers: tuple[EdgeCarrier, ...]) -> str:
    """The permissions module's address table: every network of every carrier, in group
    CARRIER_GROUP, any port, tagged with the carrier's slug (the edge names the carrier
    by it); sorted by slug, then network."""
    try:
        networks = [(c.slug, ipaddress.ip_network(n)) for c in carriers for n in c.networks]
    except ValueError as exc:
        raise RenderError(f"refusing to render unsafe edge value: {exc}") from None
    rows = sorted(networks, key=lambda row: (row[0], row[1].version, row[1]))
    return _ADDRESS_HEADER + "".join(
        f"{number}:{CARRIER_GROUP}:{_escaped(str(network.network_address))}:"
        f"{network.prefixlen}:0:{_plain(slug)}\n"
        for number, (slug, network) in enumerate(rows, start=1))


def mask_registrations(text: str) -> str:
    """``text`` (the uacreg file or a diff of it) with every password as ``********``."""
    return _UACREG_PASSWORD_RE.sub(lambda m: m.group("key") + "********", text)


def dispatcher_list(sets: tuple[DispatcherSet, ...]) -> str:
    """dispatcher.list: per set, the primary at a higher priority than the standby."""
    lines = ["# setid destination flags priority attrs\n"]
    for ds in sorted(sets, key=lambda s: s.set_id):
        members = [(ds.primary, PRIMARY_PRIORITY)]
        if ds.standby is not None:
            members.append((ds.standby, STANDBY_PRIORITY))
        for node, priority in members:
            _plain(node.name)
            lines.append(f"{ds.set_id} sip:{host_port(node.sip_address, node.sip_port)} 0 "
                         f"{priority} name={node.name}\n")
    return "".join(lines)


def db_text_table(rows: dict[str, str]) -> str:
    """An htable's db_text file: string keys and values, sorted by key, never expiring."""
    return _DB_TEXT_HEADER + "".join(
        f"{_plain(key)}:0:0:{_plain(value)}:0\n" for key, value in sorted(rows.items()))


def _escaped(value: str) -> str:
    """A db_text field that may hold ``:`` (a URI, a secret), escaped as db_text reads it;
    a line break, blank or backslash is refused (validation allows none of them)."""
    if any(c in value for c in "\r\n\x00 \t\\"):
        raise RenderError("refusing to render unsafe edge value (not shown: it may be a secret)")
    return value.replace(":", "\\:")


def _plain(value: str) -> str:
    """A db_text or dispatcher field: refused when it could end or split a row (input
    validation already prevents it; this is the second line of defence)."""
    if not value or any(c in value for c in ":\r\n\x00 \t\\"):
        raise RenderError(f"refusing to render unsafe edge value {value!r}")
    return value
