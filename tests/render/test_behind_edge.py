"""A node behind a Kamailio edge: carriers identified by the header the edge stamps and
accepted from the edge only, calls out through the edge, extensions of other nodes
dialled through it, and calls from other nodes taken in from it alone."""

from __future__ import annotations

import re
from dataclasses import replace

from pbxctl.destinations import Destination
from pbxctl.render import TemplateSet, render_node
from pbxctl.render.model import EdgePeer, NodeConfig
from tests.render.test_golden import company_node

TEMPLATES = TemplateSet()
EDGE1 = EdgePeer("edge1", "127.0.0.10", 5060)
EDGE2 = EdgePeer("edge2", "::1", 5070)


def behind_edge() -> NodeConfig:
    return replace(company_node(), edges=(EDGE1, EDGE2), remote_extensions=("401", "402"))


def sections(pjsip: str) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Every ``[name]`` of pjsip.conf by (name, type), with its options in order."""
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for block in re.split(r"\n(?=\[)", pjsip):
        head = re.match(r"\[([^\]]+)\]\n", block)
        if head is None:
            continue
        options = [tuple(line.split("=", 1)) for line in block.splitlines()[1:]
                   if "=" in line and not line.startswith(";")]
        pairs = [(k, v) for k, v in options]
        found[(head.group(1), dict(pairs)["type"])] = pairs
    return found


def test_carriers_are_identified_by_the_edge_header_and_reached_through_the_edge() -> None:
    conf = sections(render_node(behind_edge(), TEMPLATES).files["pjsip.conf"])
    for slug in ("tele2", "mts"):
        endpoint = conf[(slug, "endpoint")]
        assert ("identify_by", "header") in endpoint
        assert ("outbound_proxy", "sip:127.0.0.10:5060\\;lr") in endpoint
        assert conf[(slug, "aor")][-1] == ("outbound_proxy", "sip:127.0.0.10:5060\\;lr")
        assert conf[(f"{slug}-identify", "identify")] == [
            ("type", "identify"), ("endpoint", slug),
            ("match_header", f"X-Pbxctl-Carrier: {slug}")]   # never by address
        # Only the edges may send what this endpoint takes in: denied first, then permitted.
        acl = [(k, v) for k, v in endpoint if k in ("deny", "permit")]
        assert acl == [("deny", "0.0.0.0/0.0.0.0"), ("deny", "::/0"),
                       ("permit", "127.0.0.10/32"), ("permit", "::1/128")]
        assert ("media_address", "127.0.0.1") in endpoint
        assert ("bind_rtp_to_media_address", "yes") in endpoint
    # mts is a TCP trunk: UDP to the edge, its transport in its URI for the edge
    assert ("transport", "pbxctl-udp") in conf[("mts", "endpoint")]
    assert dict(conf[("mts", "aor")])["contact"] == "sip:sip.mts.example:5060\\;transport=tcp"


def test_a_registering_carrier_is_registered_by_the_edge_not_by_the_node() -> None:
    node = behind_edge()
    assert any(c.auth == "register" for c in node.carriers)
    conf = sections(render_node(node, TEMPLATES).files["pjsip.conf"])
    assert not [key for key in conf if key[1] == "registration"]
    # the node still answers the carrier's challenge on its calls out
    assert dict(conf[("mts", "endpoint")])["outbound_auth"] == "mts-auth"
    assert ("mts-auth", "auth") in conf
    alone = sections(render_node(company_node(), TEMPLATES).files["pjsip.conf"])
    assert ("mts-reg", "registration") in alone


def test_phones_are_identified_by_the_edge_header_and_reached_by_their_path() -> None:
    conf = sections(render_node(behind_edge(), TEMPLATES).files["pjsip.conf"])
    phone = conf[("201", "endpoint")]
    # the edge authenticated the phone: no login here, its header from the edges only
    assert "auth" not in dict(phone) and ("identify_by", "header,username") in phone
    assert [(k, v) for k, v in phone if k in ("deny", "permit")] == [
        ("deny", "0.0.0.0/0.0.0.0"), ("deny", "::/0"),
        ("permit", "127.0.0.10/32"), ("permit", "::1/128")]
    assert conf[("201-identify", "identify")] == [
        ("type", "identify"), ("endpoint", "201"), ("match_header", "X-Pbxctl-Phone: 201")]
    assert ("201-auth", "auth") not in conf
    # the Contact stays the phone's own; the stored Path leads there through the edge
    assert ("rewrite_contact", "no") in phone and ("rewrite_contact", "yes") not in phone
    assert ("support_path", "yes") in conf[("201", "aor")]
    assert ("media_address", "127.0.0.1") in phone
    assert ("bind_rtp_to_media_address", "yes") in phone


def test_without_an_edge_phones_log_in_on_the_node() -> None:
    conf = sections(render_node(company_node(), TEMPLATES).files["pjsip.conf"])
    phone = dict(conf[("201", "endpoint")])
    assert phone["auth"].split(",")[0] == "201-auth" and phone["rewrite_contact"] == "yes"
    assert "identify_by" not in phone and "support_path" not in dict(conf[("201", "aor")])
    assert ("201-identify", "identify") not in conf


def test_calls_between_nodes_use_an_edge_endpoint_taken_in_by_header_from_the_edge() -> None:
    rendered = render_node(behind_edge(), TEMPLATES)
    conf = sections(rendered.files["pjsip.conf"])
    endpoint = dict(conf[("pbxctl_edge", "endpoint")])
    assert endpoint["context"] == "pbxctl-edge-calls"
    assert endpoint["identify_by"] == "header,ip"
    assert endpoint["media_address"] == "127.0.0.1"
    assert endpoint["bind_rtp_to_media_address"] == "yes"
    assert [v for k, v in conf[("pbxctl_edge", "endpoint")] if k == "permit"] == [
        "127.0.0.10/32", "::1/128"]
    assert dict(conf[("pbxctl_edge", "aor")])["contact"] == "sip:127.0.0.10:5060"
    assert conf[("pbxctl_edge-identify", "identify")][2:] == [
        ("match_header", "X-Pbxctl-Internal: yes"), ("match", "127.0.0.10/32"),
        ("match", "::1/128")]
    # headers first: the edge's address alone must not make a carrier's call the edge's
    assert dict(conf[("global", "global")])["endpoint_identifier_order"] == (
        "header,ip,username,anonymous")
    assert rendered.endpoints == ("201", "202", "301", "mts", "tele2", "pbxctl_edge")
    assert rendered.contexts[-2:] == ("pbxctl-edge-leg", "pbxctl-edge-calls")


def test_extensions_of_other_nodes_are_dialled_through_the_edge() -> None:
    dialplan = render_node(behind_edge(), TEMPLATES).files["extensions.conf"]
    extensions = dialplan.split("[pbxctl-extensions]\n", 1)[1].split("\n[", 1)[0]
    assert ("exten => 401,1,Dial(PJSIP/401@pbxctl_edge,120,b(pbxctl-edge-leg^s^1))\n"
            " same => n,Hangup()\n") in extensions
    assert "exten => 402,1,Dial(PJSIP/402@pbxctl_edge," in extensions
    assert "exten => 201,1,Gosub(pbxctl-call-person,s,1(201,30))" in extensions
    assert ("[pbxctl-edge-leg]\nexten => s,1,Set(PJSIP_HEADER(add,X-Pbxctl-Internal)=yes)\n"
            in dialplan)


def test_calls_from_the_edge_ring_only_this_nodes_phones_and_write_no_cdr() -> None:
    dialplan = render_node(behind_edge(), TEMPLATES).files["extensions.conf"]
    context = dialplan.split("[pbxctl-edge-calls]\n", 1)[1].split("\n[", 1)[0]
    assert re.findall(r"^exten => (\S+?),1,", context, re.M) == ["201", "202", "301",
                                                                  "_[0-9*#+]!"]
    assert ("exten => 202,1,Set(CDR_PROP(disable)=1)\n"
            " same => n,Set(CALLERID(num)=${FILTER(0123456789,${CALLERID(num)})})\n"
            " same => n,Gosub(pbxctl-call-person,s,1(202,30))\n") in context
    assert "401" not in context            # never back to the edge: no loop


def test_without_an_edge_nothing_changes() -> None:
    alone = render_node(company_node(), TEMPLATES)
    assert "pbxctl_edge" not in "".join(alone.files.values())
    assert "X-Pbxctl" not in "".join(alone.files.values())
    conf = sections(alone.files["pjsip.conf"])
    assert ("identify_by", "ip") in conf[("tele2", "endpoint")]
    assert "endpoint_identifier_order" not in dict(conf[("global", "global")])
    assert dict(conf[("tele2-identify", "identify")])["match"] == "127.0.0.2/32"


def test_a_number_or_the_crisis_switch_reaches_another_nodes_extension_through_the_edge(
        ) -> None:
    node = behind_edge()
    node = replace(node, numbers=(*node.numbers, replace(
        node.numbers[0], e164="+78435550109", route=Destination("ext", "401"),
        after_hours=None)))
    dialplan = render_node(node, TEMPLATES).files["extensions.conf"]
    numbers = dialplan.split("[pbxctl-numbers]\n", 1)[1]
    routed = numbers.split("exten => +78435550109,1,", 1)[1].split("\nexten => ", 1)[0]
    assert " same => n,Goto(pbxctl-extensions,401,1)\n" in routed
    crisis = dialplan.split("[pbxctl-crisis]\n", 1)[1].split("\n[", 1)[0]
    target = "${FILTER(0123456789,${PBXCTL_TARGET})}"
    assert (f" same => n(ext),GotoIf(${{DIALPLAN_EXISTS(pbxctl-extensions,{target},1)}}"
            f"?pbxctl-extensions,{target},1)\n"
            f" same => n,Gosub(pbxctl-call-person,s,1({target},30))\n") in crisis


def test_a_standby_rings_its_standby_branchs_phone_through_the_edge_unless_registered_here(
        ) -> None:
    node = replace(behind_edge(), standby_for=("omsk",))
    dialplan = render_node(node, TEMPLATES).files["extensions.conf"]
    extensions = dialplan.split("[pbxctl-extensions]\n", 1)[1].split("\n[", 1)[0]
    assert ('exten => 301,1,GotoIf($["${PJSIP_DIAL_CONTACTS(301)}" = ""]?edge)\n'
            " same => n,Gosub(pbxctl-call-person,s,1(301,30))\n"
            " same => n,Hangup()\n"
            " same => n(edge),Dial(PJSIP/301@pbxctl_edge,120,b(pbxctl-edge-leg^s^1))\n"
            ) in extensions
    assert "exten => 201,1,Gosub(pbxctl-call-person,s,1(201,30))\n" in extensions
    # calls from the edge ring it here, never back to the edge
    from_edge = dialplan.split("[pbxctl-edge-calls]\n", 1)[1].split("\n[", 1)[0]
    assert "exten => 301,1,Set(CDR_PROP(disable)=1)" in from_edge
