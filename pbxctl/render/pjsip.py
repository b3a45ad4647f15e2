"""PJSIP objects of a node: transport and, for each phone, endpoint, auth and AOR."""

from __future__ import annotations

import ipaddress

from pbxctl import names
from pbxctl.render.edge import CARRIER_HEADER, INTERNAL_HEADER, PHONE_HEADER, host_port
from pbxctl.render.model import CarrierConfig, EdgePeer, NodeConfig, PhoneConfig
from pbxctl.render.sections import Section, section


def branch_context(slug: str) -> str:
    """The dialplan context calls from a branch's phones enter."""
    return names.ASTERISK.branch_context(slug)


def carrier_context(slug: str) -> str:
    """The dialplan context calls from a carrier enter."""
    return names.ASTERISK.carrier_context(slug)


def pjsip_sections(node: NodeConfig) -> list[Section]:
    """Every PJSIP section of the node, transport first, then phones by number."""
    sections = [
        # No unsolicited message-lamp NOTIFY to every stored contact when Asterisk starts
        # (a global option: Asterisk 22 refuses it on an endpoint, and the endpoint too).
        section("global", ("type", "global"), ("user_agent", "pbxctl"),
                ("default_realm", node.sip_realm),
                # No storm of message-lamp NOTIFYs to every stored contact when Asterisk
                # starts; each phone's lamp is refreshed when it registers again.
                ("mwi_disable_initial_unsolicited", "yes"),
                # Behind an edge every request comes from its address: its headers decide
                # first (a carrier, a call from another node), then the address (its OPTIONS
                # probes: the edge's endpoint, answered, never a failed request to ban).
                *((("endpoint_identifier_order", "header,ip,username,anonymous"),)
                  if node.edge is not None else ())),
        section(names.ASTERISK.udp_transport, ("type", "transport"), ("protocol", "udp"),
                ("bind", f"{node.sip_address}:{node.sip_port}")),
    ]
    if any(c.transport == "tcp" for c in node.carriers):
        sections.append(section(names.ASTERISK.tcp_transport, ("type", "transport"),
                                ("protocol", "tcp"),
                                ("bind", f"{node.sip_address}:{node.sip_port}")))
    for phone in node.phones:
        sections.extend(_phone_sections(node, phone))
    for carrier in node.carriers:
        sections.extend(_carrier_sections(node, carrier))
    if node.edge is not None:
        sections.extend(_edge_sections(node, node.edge))
    return sections


def edge_proxy(edge: EdgePeer) -> str:
    """The edge as an outbound proxy (``;`` escaped: it starts a comment in pjsip.conf)."""
    return f"sip:{host_port(edge.sip_address, edge.sip_port)}\\;lr"


def _from_edges_only(node: NodeConfig) -> tuple[tuple[str, str], ...]:
    """An endpoint's ACL: requests from anywhere but the node's edges are refused (403),
    so a header the edge stamps means nothing when someone else sends it."""
    return (("deny", "0.0.0.0/0.0.0.0"), ("deny", "::/0"),
            *(("permit", str(ipaddress.ip_network(e.sip_address))) for e in node.edges))


def _edge_sections(node: NodeConfig, edge: EdgePeer) -> list[Section]:
    """The edge as the endpoint of calls between nodes: out to an extension served
    elsewhere, in from another node (the edge's header says so; from the edge only), and
    of whatever the edge sends without a carrier's header (its OPTIONS probes)."""
    name = names.ASTERISK.edge_endpoint
    return [
        section(name, ("type", "endpoint"), ("transport", names.ASTERISK.udp_transport),
                ("context", names.ASTERISK.from_edge), ("disallow", "all"),
                *(("allow", codec) for codec in node.codecs), ("aors", name),
                *_media_options(node), ("trust_id_inbound", "no"), ("send_rpid", "no"),
                ("identify_by", "header,ip"), ("allow_subscribe", "no"),
                *_from_edges_only(node),
                comment=f"Edge {edge.name}: calls between the company's nodes"),
        section(name, ("type", "aor"),
                ("contact", f"sip:{host_port(edge.sip_address, edge.sip_port)}")),
        section(f"{name}-identify", ("type", "identify"), ("endpoint", name),
                ("match_header", f"{INTERNAL_HEADER}: yes"),
                *(("match", str(ipaddress.ip_network(e.sip_address))) for e in node.edges)),
    ]


def _media_options(node: NodeConfig) -> tuple[tuple[str, str], ...]:
    return (("media_address", node.media_address), ("bind_rtp_to_media_address", "yes"),
            ("direct_media", "no"), ("rtp_symmetric", "yes"), ("force_rport", "yes"),
            ("rewrite_contact", "yes"))


def _carrier_sections(node: NodeConfig, carrier: CarrierConfig) -> list[Section]:
    slug = carrier.slug
    transport = (names.ASTERISK.tcp_transport if carrier.transport == "tcp"
                 else names.ASTERISK.udp_transport)
    server = f"sip:{carrier.host}:{carrier.port}"
    if node.edge is not None:
        # UDP to the edge; the carrier's own transport rides in its URI, for the edge
        transport = names.ASTERISK.udp_transport
        server += "\\;transport=tcp" if carrier.transport == "tcp" else ""
    registering = carrier.auth == "register"
    endpoint_options: list[tuple[str, str | int]] = [
        ("type", "endpoint"), ("transport", transport), ("context", carrier_context(slug)),
        ("disallow", "all"), *(("allow", codec) for codec in node.codecs), ("aors", slug),
        *_media_options(node), ("trust_id_inbound", "no"), ("send_rpid", "no"),
        # Recognised by address only (behind an edge: by the header the edge stamps):
        # a From user of "tele2" from elsewhere gets a 401.
        ("identify_by", "ip" if node.edge is None else "header"), ("allow_subscribe", "no"),
    ]
    if node.edge is not None:
        endpoint_options += [*_from_edges_only(node), ("outbound_proxy", edge_proxy(node.edge))]
    if registering:
        assert carrier.username is not None
        endpoint_options += [("outbound_auth", f"{slug}-auth"),
                             ("from_user", carrier.username), ("from_domain", carrier.host)]
    proxy = () if node.edge is None else (("outbound_proxy", edge_proxy(node.edge)),)
    sections = [
        section(slug, *endpoint_options, comment=f"Carrier {slug} ({carrier.auth} trunk)"),
        section(slug, ("type", "aor"), ("contact", server),
                ("qualify_frequency", carrier.qualify_seconds), *proxy),
    ]
    # A registering carrier sends its calls from its server unless told otherwise.
    match = carrier.match or ((carrier.host,) if registering else ())
    if node.edge is not None:
        sections.append(section(f"{slug}-identify", ("type", "identify"), ("endpoint", slug),
                                ("match_header", f"{CARRIER_HEADER}: {slug}")))
    elif match:
        sections.append(section(f"{slug}-identify", ("type", "identify"), ("endpoint", slug),
                                *(("match", m) for m in match)))
    if registering:
        assert carrier.username is not None and carrier.secret is not None
        sections.append(
            section(f"{slug}-auth", ("type", "auth"), ("auth_type", "userpass"),
                    ("username", carrier.username), ("password", carrier.secret)))
    if registering and node.edge is None:   # behind an edge, the edge registers, once
        assert carrier.username is not None
        sections.append(
            section(f"{slug}-reg", ("type", "registration"), ("transport", transport),
                    ("outbound_auth", f"{slug}-auth"), ("server_uri", server),
                    ("client_uri", f"sip:{carrier.username}@{carrier.host}:{carrier.port}"),
                    ("contact_user", carrier.username), ("retry_interval", 60),
                    ("forbidden_retry_interval", 600), ("expiration", 3600),
                    ("line", "yes"), ("endpoint", slug)))
    return sections


def _phone_sections(node: NodeConfig, phone: PhoneConfig) -> list[Section]:
    number = phone.number
    if node.edge is None:
        # The extension's own login, then each device's (revoked one by one).
        login: tuple[tuple[str, str], ...] = (
            ("auth", ",".join([f"{number}-auth", *(d.name for d in phone.devices)])),)
        media = _media_options(node)
    else:
        # Behind an edge the edge authenticates the phone and says which it is (the
        # registrar finds the AOR by an endpoint's username methods only: the To user;
        # the edge's own address is matched first, so no username ever matches from
        # there); the Contact it registered stays as is (the Path leads there).
        login = (("identify_by", "header,username"), *_from_edges_only(node))
        media = tuple((k, "no" if k == "rewrite_contact" else v)
                      for k, v in _media_options(node))
    endpoint = section(
        number,
        ("type", "endpoint"),
        ("transport", names.ASTERISK.udp_transport),
        ("context", branch_context(phone.branch)),
        # Busy lamps of the branch's colleagues only; its phones pick up each other's calls.
        ("subscribe_context", names.ASTERISK.hints_context(phone.branch)),
        ("named_call_group", phone.branch),
        ("named_pickup_group", phone.branch),
        ("disallow", "all"),
        *(("allow", codec) for codec in node.codecs),
        *login,
        ("aors", number),
        ("callerid", f'"{phone.display_name}" <{number}>'),
        ("set_var", f"PBXCTL_DEPARTMENT={phone.department}"),
        ("set_var", f"PBXCTL_BRANCH={phone.branch}"),
        # *97 without a PIN (VoiceMailMain's s option) when the mailbox has none.
        *((("set_var", "PBXCTL_VOICEMAIL_LOGIN=s"),) if phone.voicemail_pin is None else ()),
        # The message lamp: unsolicited NOTIFYs when the mailbox changes or the phone registers.
        ("mailboxes", f"{number}@{names.ASTERISK.voicemail_context}"),
        *media,
        comment=f"{phone.display_name}, branch {phone.branch}",
    )
    auth = section(
        f"{number}-auth",
        ("type", "auth"),
        ("auth_type", "digest"),
        ("username", number),
        ("realm", node.sip_realm),
        ("password_digest", f"md5:{phone.sip_ha1}"),
    )
    devices = [section(device.name, ("type", "auth"), ("auth_type", "digest"),
                       ("username", device.name), ("realm", node.sip_realm),
                       ("password_digest", f"md5:{device.sip_ha1}"),
                       comment=f"Device {device.name} of {number}")
               for device in phone.devices]
    aor = section(
        number,
        ("type", "aor"),
        ("max_contacts", 2),
        ("remove_existing", "yes"),
        ("mailboxes", f"{number}@{names.ASTERISK.voicemail_context}"),  # MWI subscriptions
        *((("support_path", "yes"),) if node.edge is not None else ()),
    )
    if node.edge is not None:
        return [endpoint, aor, section(f"{number}-identify", ("type", "identify"),
                                       ("endpoint", number),
                                       ("match_header", f"{PHONE_HEADER}: {number}"))]
    return [endpoint, auth, *devices, aor]


def endpoint_names(node: NodeConfig) -> list[str]:
    """The PJSIP endpoints Asterisk must show after an apply."""
    edge = [names.ASTERISK.edge_endpoint] if node.edge is not None else []
    return [phone.number for phone in node.phones] + [c.slug for c in node.carriers] + edge
