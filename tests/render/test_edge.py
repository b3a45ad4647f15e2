"""The edge's Kamailio files from an EdgeConfig: dispatcher priorities, the htables'
rows, the routing decisions in kamailio.cfg, and values that could break a row refused."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from pbxctl.errors import RenderError
from pbxctl.render import edge as r
from pbxctl.render.edge import (
    DispatcherSet,
    EdgeCarrier,
    EdgeConfig,
    EdgeNode,
    EdgeNumber,
    EdgeRegistration,
    PhoneLogin,
    render_edge,
)
from pbxctl.render.templates import TemplateSet

TEMPLATES = TemplateSet()
A = EdgeNode("a", "127.0.0.11", 5060)
B = EdgeNode("b", "127.0.0.12", 5070)
EDGE = EdgeConfig(
    name="edge1", sip_address="127.0.0.10", sip_port=5060, rpc_address="127.0.0.10",
    rpc_port=5090, config_dir="/etc/kamailio",
    sets=(DispatcherSet(2, "omsk", B), DispatcherSet(1, "kazan", A, B)),
    carriers=(EdgeCarrier("tele2", ("127.0.0.2/32", "127.0.0.3/32")),
              EdgeCarrier("mts", ("10.8.0.0/22", "2001:db8::1/128", "127.0.0.4/32"))),
    numbers=(EdgeNumber("8435550101", 1), EdgeNumber("+78435550101", 1),
             EdgeNumber("+73812550101", 2)),
    extensions=(EdgeNumber("301", 2), EdgeNumber("201", 1), EdgeNumber("202", 1)),
    registrations=(EdgeRegistration("tele2", "127.0.0.2", 5080, "a001", "pass:word1"),
                   EdgeRegistration("beeline", "sip.beeline.example", 5060, "b2", "s3cr3t-xy")),
    logins=(PhoneLogin("301", "301", "c" * 32), PhoneLogin("201", "201", "a" * 32),
            PhoneLogin("201-805ec0123456", "201", "b" * 32)))


def rows(text: str) -> list[str]:
    return text.splitlines()[1:]


def test_each_branch_is_a_set_its_node_before_its_standby() -> None:
    files = render_edge(EDGE, TEMPLATES)
    assert rows(files["dispatcher.list"]) == [
        "1 sip:127.0.0.11:5060 0 10 name=a", "1 sip:127.0.0.12:5070 0 5 name=b",
        "2 sip:127.0.0.12:5070 0 10 name=b"]


def test_numbers_are_db_text_rows_sorted_by_key() -> None:
    files = render_edge(EDGE, TEMPLATES)
    header = ("key_name(string) key_type(int) value_type(int) key_value(string) "
              "expires(int)")
    assert files["db/numbers"].splitlines() == [
        header, "+73812550101:0:0:2:0", "+78435550101:0:0:1:0", "8435550101:0:0:1:0"]
    assert files["db/extensions"].splitlines() == [
        header, "201:0:0:1:0", "202:0:0:1:0", "301:0:0:2:0"]
    assert files["db/logins"].splitlines() == [
        header, "201:0:0:201:0", "201-805ec0123456:0:0:201:0", "301:0:0:301:0"]
    assert files["db/phone_ha1"].splitlines() == [
        header, f"201:0:0:{'a' * 32}:0", f"201-805ec0123456:0:0:{'b' * 32}:0",
        f"301:0:0:{'c' * 32}:0"]
    assert files["db/version"] == ("table_name(string) table_version(int)\nnumbers:2\n"
                                   "extensions:2\nlogins:2\nphone_ha1:2\n"
                                   "uacreg:5\naddress:6\n")


def test_carriers_are_recognised_by_their_networks_tagged_with_their_slug() -> None:
    files = render_edge(EDGE, TEMPLATES)
    # group 1, any port, by slug then network; IPv6 colons escaped as db_text reads them
    assert files["db/address"].splitlines() == [
        "id(int,auto) grp(int) ip_addr(string) mask(int) port(int) tag(string,null)",
        "1:1:10.8.0.0:22:0:mts", "2:1:127.0.0.4:32:0:mts", "3:1:2001\\:db8\\:\\:1:128:0:mts",
        "4:1:127.0.0.2:32:0:tele2", "5:1:127.0.0.3:32:0:tele2"]
    cfg = files["kamailio.cfg"]
    assert 'modparam("permissions", "db_url", "text:///etc/kamailio/db")' in cfg
    assert 'modparam("permissions", "load_backends", 1)' in cfg      # the address table
    assert 'modparam("permissions", "peer_tag_avp", "$avp(carrier)")' in cfg
    assert 'if (allow_source_address("1")) { route(FROM_CARRIER); }' in cfg


def test_the_edge_registers_each_registering_carrier_once_as_the_carrier() -> None:
    files = render_edge(EDGE, TEMPLATES)
    header, *rows = files["db/uacreg"].splitlines()
    assert header.split()[:9] == [
        "id(int,auto)", "l_uuid(string)", "l_username(string)", "l_domain(string)",
        "r_username(string)", "r_domain(string)", "realm(string,null)", "auth_username(string)",
        "auth_password(string)"]
    # by slug; the Contact user is the slug; ':' escaped as db_text reads it
    assert rows == [
        "1:beeline:beeline:127.0.0.10:b2:sip.beeline.example::b2:s3cr3t-xy::"
        "sip\\:sip.beeline.example\\:5060:3600:0:0::",
        "2:tele2:tele2:127.0.0.10:a001:127.0.0.2::a001:pass\\:word1::"
        "sip\\:127.0.0.2\\:5080:3600:0:0::"]
    assert len(header.split()) == len(rows[0].replace("\\:", "").split(":"))
    cfg = files["kamailio.cfg"]
    assert 'modparam("uac", "reg_db_url", "text:///etc/kamailio/db")' in cfg
    assert 'modparam("uac", "reg_contact_addr", "127.0.0.10:5060")' in cfg
    # a call to that Contact names the number in its To, which the node is given
    carrier = cfg.split("route[FROM_CARRIER] {\n", 1)[1].split("\n}\n", 1)[0]
    assert carrier.index("route(REGISTERED_CARRIER);") < carrier.index(
        "$var(set) = $sht(numbers=>$rU);")
    assert "if ($rU == $avp(carrier) && $tU != $null) {\n        $rU = $tU;" in cfg


def test_the_configuration_holds_the_routing_decisions() -> None:
    cfg = render_edge(EDGE, TEMPLATES)["kamailio.cfg"]
    assert "listen=udp:127.0.0.10:5060\n" in cfg and "listen=tcp:127.0.0.10:5090\n" in cfg
    assert "listen=tcp:127.0.0.10:5060\n" in cfg       # carriers' TCP trunks
    assert "if ($Rp == 5090) { drop; }" in cfg          # no SIP on the RPC port
    # the carrier header: stripped from all but the nodes, before any routing; set on
    # carriers' requests from the tag of the network they came from
    strip = cfg.index('if (!ds_is_from_list()) {\n        remove_hf("X-Pbxctl-Carrier");\n'
                      '        remove_hf("X-Pbxctl-Internal");\n'
                      '        remove_hf("X-Pbxctl-Phone");\n    }')
    assert strip < cfg.index("route(FROM_CARRIER);")
    assert 'append_hf("X-Pbxctl-Carrier: $avp(carrier)\\r\\n");' in cfg
    assert 'ds_select_dst("$var(set)", "8")' in cfg     # by priority
    assert re.search(r't_check_status\("5\[0-9\]\[0-9\]"\) \|\| \(t_branch_timeout\(\)', cfg)
    assert 'modparam("htable", "db_url", "text:///etc/kamailio/db")' in cfg
    assert 'modparam("dispatcher", "list_file", "/etc/kamailio/dispatcher.list")' in cfg
    assert 'sl_send_reply("403", "Forbidden");' in cfg


def test_a_node_reaches_another_nodes_extension_or_a_carrier_through_the_edge() -> None:
    cfg = render_edge(EDGE, TEMPLATES)["kamailio.cfg"]
    from_node = cfg.split("route[FROM_NODE] {\n", 1)[1].split("\n}\n", 1)[0]
    # the node's own Route (outbound_proxy) consumed; to the edge itself: an extension
    assert from_node.index("loose_route();") < from_node.index(
        "if (uri == myself) { route(TO_EXTENSION); }")
    # to a carrier: the internal header never leaves the company
    assert from_node.index('remove_hf("X-Pbxctl-Internal");') < from_node.index("t_relay();")
    to_extension = cfg.split("route[TO_EXTENSION] {\n", 1)[1].split("\n}\n", 1)[0]
    assert "$var(set) = $sht(extensions=>$rU);" in to_extension
    assert 'if ($var(set) == $null) { sl_send_reply("404", "Not Found"); exit; }' in to_extension
    # same set and same failover as a carrier's call: the standby when the node is down
    assert 'ds_select_dst("$var(set)", "8")' in to_extension
    assert to_extension.index('t_on_failure("NODE_FAILOVER");') < to_extension.index(
        "t_relay();")
    assert 'modparam("htable", "htable", "extensions=>size=10;dbtable=extensions;")' in cfg


def test_a_carriers_answer_without_the_edges_record_route_gets_it() -> None:
    # else the node's ACK and BYE of its call out have no route back through the edge
    cfg = render_edge(EDGE, TEMPLATES)["kamailio.cfg"]
    from_node = cfg.split("route[FROM_NODE] {\n", 1)[1].split("\n}\n", 1)[0]
    assert from_node.index('if (is_method("INVITE")) { t_on_reply("CARRIER_ANSWER"); }'
                           ) < from_node.index("t_relay();")
    answer = cfg.split("onreply_route[CARRIER_ANSWER] {\n", 1)[1].split("\n}\n", 1)[0]
    assert answer == (
        '    if ($rs > 100 && $rs < 300 && !is_present_hf("Record-Route")) {\n'
        '        insert_hf("Record-Route: <sip:127.0.0.10:5060;lr>\\r\\n");\n    }')


def test_phones_are_authenticated_here_and_registered_on_both_nodes_with_a_path() -> None:
    cfg = render_edge(EDGE, TEMPLATES)["kamailio.cfg"]
    # everything not from a node or a carrier is a phone's, and only after the phone
    # header was stripped from outside traffic
    assert cfg.index('remove_hf("X-Pbxctl-Phone");') < cfg.index("route(FROM_PHONE);")
    assert cfg.index("route(FROM_CARRIER);") < cfg.index("route(FROM_PHONE);")
    phone = cfg.split("route[FROM_PHONE] {\n", 1)[1].split("\n}\n", 1)[0]
    # challenged with the realm the HA1s were made with; the HA1 from the secret table
    assert 'pv_www_authenticate("pbxctl", "$sht(phone_ha1=>$au)", "1")' in phone
    challenge = cfg.split("route[CHALLENGE_PHONE] {\n", 1)[1].split("\n}\n", 1)[0]
    assert 'www_challenge("pbxctl", "0");' in challenge
    assert "route(CHALLENGE_PHONE);" in phone
    assert 'pv_proxy_authenticate("pbxctl", "$sht(phone_ha1=>$au)", "1")' in phone
    # a login registers its own extension only; the node learns which by the header
    assert '$var(ext) = $sht(logins=>$au);' in phone
    assert '(is_method("REGISTER") && $tU != $var(ext))' in phone
    stamp = phone.index('append_hf("X-Pbxctl-Phone: $var(ext)\\r\\n");')
    assert phone.index("consume_credentials();") < stamp
    assert phone.index('sl_send_reply("403", "Forbidden");') < stamp
    # a REGISTER: a Path to the edge, a branch to the node and one to the standby
    register = phone.split('append_hf("Supported: path\\r\\n");\n        add_path_received();',
                           1)[1]
    assert register.index("append_branch();") < register.index("t_relay();")
    assert "ds_next_dst()" in register
    # one 200 to a REGISTER; an INVITE's 2xx retransmissions still pass
    assert 'reply_route {\n    if (!is_method("INVITE") && !t_check_trans()) { drop; }\n}' in cfg
    assert "if (ds_next_dst() && $du != $var(first)) {" in register   # a one-node set
    assert 'modparam("path", "use_received", 1)' in cfg
    assert 'modparam("htable", "htable", "phone_ha1=>size=10;dbtable=phone_ha1;")' in cfg
    # failed logins counted per source, in memory; the tenth shuts the source out
    # (as pbxctl reads them back: security lockouts)
    assert (f'modparam("htable", "htable", "{r.LOGIN_FAILURES_TABLE}=>size=8;'
            f'autoexpire={r.LOGIN_FAILURES_KEPT};")') in cfg
    assert phone.index(f"$sht(authfail=>$si) >= {r.LOGIN_FAILURES_LOCKED}") < phone.index(
        "pv_www_authenticate")
    assert phone.count("route(LOGIN_FAILED);") == 2
    # a retransmitted REGISTER or INVITE with a wrong password is one attempt, not two
    failed = cfg.split("route[LOGIN_FAILED] {", 1)[1].split("\n}", 1)[0]
    assert '$var(request) = $si + ":" + $(mb{s.md5});' in failed
    assert failed.index("if ($sht(authcounted=>$var(request)) != $null) { return; }") < \
        failed.index("$sht(authfail=>$si) = $var(failed) + 1;")
    assert 'modparam("htable", "htable", "authcounted=>size=8;autoexpire=64;")' in cfg


def test_rendering_is_deterministic() -> None:
    shuffled = replace(EDGE, sets=EDGE.sets[::-1], carriers=EDGE.carriers[::-1],
                       numbers=EDGE.numbers[::-1], extensions=EDGE.extensions[::-1],
                       logins=EDGE.logins[::-1])
    assert render_edge(shuffled, TEMPLATES) == render_edge(EDGE, TEMPLATES)


def test_ipv6_addresses_are_bracketed() -> None:
    edge = replace(EDGE, sip_address="::1", rpc_address="::1",
                   sets=(DispatcherSet(1, "kazan", EdgeNode("a", "fd00::11", 5060)),))
    files = render_edge(edge, TEMPLATES)
    assert "listen=udp:[::1]:5060\n" in files["kamailio.cfg"]
    assert "listen=tcp:[::1]:5090\n" in files["kamailio.cfg"]
    assert rows(files["dispatcher.list"]) == ["1 sip:[fd00::11]:5060 0 10 name=a"]


@pytest.mark.parametrize("edge", [
    replace(EDGE, numbers=(EdgeNumber("843:5550101", 1),)),
    replace(EDGE, numbers=(EdgeNumber("8435550101\n1:0:0:9", 1),)),
    replace(EDGE, numbers=(EdgeNumber("", 1),)),
    replace(EDGE, extensions=(EdgeNumber("201\n202", 1),)),
    replace(EDGE, logins=(PhoneLogin("201", "201", "a:0:0:b"),)),
    replace(EDGE, carriers=(EdgeCarrier("tele2\nx", ("127.0.0.2/32",)),)),
    replace(EDGE, carriers=(EdgeCarrier("tele2:1", ("127.0.0.2/32",)),)),
    replace(EDGE, carriers=(EdgeCarrier("tele2", ("127.0.0.2/33",)),)),
    replace(EDGE, carriers=(EdgeCarrier("tele2", ("127.0.0.2\n1:1:10.0.0.0",)),)),
    replace(EDGE, sets=(DispatcherSet(1, "kazan", EdgeNode("a b", "127.0.0.11", 5060)),)),
    replace(EDGE, config_dir="/etc/kamailio\nmodparam"),
    replace(EDGE, config_dir="/etc/kamailio;x"),
    replace(EDGE, registrations=(EdgeRegistration("t", "h", 5060, "u", "p w"),)),
    replace(EDGE, registrations=(EdgeRegistration("t", "h", 5060, "u\n1:x", "pw"),)),
    replace(EDGE, registrations=(EdgeRegistration("t", "h", 5060, "u", "pw\\"),)),
])
def test_a_value_that_could_break_a_row_or_line_is_refused(edge: EdgeConfig) -> None:
    with pytest.raises(RenderError, match="refusing to render unsafe"):
        render_edge(edge, TEMPLATES)
