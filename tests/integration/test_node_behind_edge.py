"""A node behind the edge, on the sandbox's real Asterisk: the configuration loads (apply
verifies the carrier and edge endpoints), a carrier's call is taken only from the edge
with the header the edge stamps, a call between nodes only from the edge with its own
header; the same calls straight from the carrier's address are refused. SIPp plays the
carrier (127.0.0.2) and the edge (127.0.0.10)."""

from __future__ import annotations

import itertools
import re
import socket
import subprocess
from pathlib import Path

import pytest
from sandboxkit import sandbox
from sandboxkit.sipp import SCENARIOS, SippCarrier, sipp_binary

from tests.conftest import Pbxctl
from tests.integration.conftest import add_phone, add_sandbox_node

DID = "+78435550101"
TELE2 = SippCarrier("tele2", "127.0.0.2")
EDGE = "127.0.0.10"
_ports = itertools.count(5371)
_media = itertools.count(31000, 4)


def offer(work: Path, source: str, called: str, header: str, caller: str = "202") -> str:
    """An INVITE from ``caller`` for ``called`` from ``source`` carrying ``header``; how
    Asterisk answered it: ``ANSWERED`` or ``REFUSED <code>``."""
    scenario = work / "call_with_header.xml"
    scenario.write_text((SCENARIOS / "carrier_call_refused.xml").read_text().replace(
        "      User-Agent: pbxctl-sipp-carrier\n",
        "      User-Agent: pbxctl-sipp-carrier\n      [header]\n", 1))
    log = work / f"offer-{source}-{next(_ports)}.log"
    subprocess.run([sipp_binary(), "127.0.0.1:5060", "-key", "caller", caller, "-key",
                    "header", header, "-sf", str(scenario), "-s", called, "-i", source,
                    "-p", str(next(_ports)), "-mp", str(next(_media)), "-m", "1",
                    "-nostdin", "-timeout", "30", "-trace_logs", "-log_file", str(log)],
                   capture_output=True, text=True, timeout=60, check=False)
    found = re.search(r"(ANSWERED|REFUSED) status=(\d{3})", log.read_text())
    assert found, f"no answer from Asterisk to {source}"
    return "ANSWERED" if found.group(1) == "ANSWERED" else f"REFUSED {found.group(2)}"


def probe(source: str) -> str:
    """The status line Asterisk answers an OPTIONS from ``source`` with, as the edge's
    dispatcher probes nodes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, next(_ports)))
        sock.settimeout(5)
        host, port = sock.getsockname()
        sock.sendto((f"OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n"
                     f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{port}probe;rport\r\n"
                     f"From: <sip:edge@{host}:{port}>;tag=probe\r\n"
                     "To: <sip:127.0.0.1:5060>\r\n"
                     f"Call-ID: probe-{port}@{host}\r\nCSeq: 1 OPTIONS\r\n"
                     "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(),
                    ("127.0.0.1", 5060))
        return sock.recv(65535).decode().split("\r\n", 1)[0]


@pytest.fixture
def behind_edge(pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> Pbxctl:
    """Kazan (201) on the sandbox node, tele2's number routed to 201, edge1 in front."""
    add_sandbox_node(pbxctl, asterisk)
    pbxctl.ok("branch", "add", "kazan", "--name", "Kazan salon", "--city", "Kazan",
              "--timezone", "Europe/Moscow", "--ext-range", "200-299")
    pbxctl.ok("ext", "add", "kazan", "201", "--name", "Anna Petrova")
    pbxctl.ok("carrier", "add", "tele2", "--host", TELE2.address, "--auth", "ip",
              "--match", TELE2.address, "--number-format", "national:7", "--qualify", "0")
    # a TCP trunk: reached over UDP through the edge, its transport in its URI
    pbxctl.ok("carrier", "add", "mts", "--host", "127.0.0.3", "--auth", "ip", "--match",
              "127.0.0.3", "--transport", "tcp", "--number-format", "plus", "--qualify", "0")
    pbxctl.ok("number", "add", DID, "--carrier", "tele2", "--branch", "kazan",
              "--monthly-fee", "350.00", "--route", "ext:201")
    edge_dir = tmp_path / "edge1"
    edge_dir.mkdir()
    pbxctl.allow_config_root(edge_dir)
    pbxctl.ok("edge", "add", "edge1", "--sip-address", EDGE, "--rpc", f"{EDGE}:5090",
              "--config-dir", str(edge_dir))
    pbxctl.ok("branch", "outbound", "kazan", "--dialing", "national:7", "--carriers",
              "tele2", "--caller-id", DID, "--allow", "local,national,mobile")
    # Omsk (301) lives on another node: the sandbox's reaches it through the edge.
    (tmp_path / "nb").mkdir()
    pbxctl.ok("node", "add", "nb", "--ami-host", "127.0.0.12", "--ami-user", "pbxctl",
              "--ami-secret", "test-secret-2", "--config-dir", str(tmp_path / "nb"),
              "--sip-address", "127.0.0.12")
    pbxctl.ok("branch", "add", "omsk", "--name", "Omsk office", "--city", "Omsk",
              "--timezone", "Asia/Omsk", "--ext-range", "300-399", "--node", "nb")
    pbxctl.ok("ext", "add", "omsk", "301", "--name", "Ivan Sidorov")
    pbxctl.ok("number", "add", "+78435550102", "--carrier", "tele2", "--branch", "kazan",
              "--monthly-fee", "350.00", "--route", "ext:301")
    logged_from = sandbox.log_position()
    pbxctl.ok("apply", "--node", "local")    # verifies: tele2, pbxctl_edge are there
    assert sandbox.problems_since(logged_from) == [], "Asterisk complained about the config"
    # res_pjsip orders its identifiers (the edge's headers first) when it starts only:
    # the first apply behind an edge says so (tests/asterisk/test_plan.py)
    sandbox.start()
    return pbxctl


def test_carriers_and_other_nodes_get_in_through_the_edge_only(
        behind_edge: Pbxctl, tmp_path: Path) -> None:
    stamped = "X-Pbxctl-Carrier: tele2"
    internal = "X-Pbxctl-Internal: yes"
    # Through the edge: the carrier's call reaches 201 (its mailbox answers: no phone
    # is registered), and so does another node's call to 201.
    assert offer(tmp_path, EDGE, "8435550101", stamped) == "ANSWERED"
    assert offer(tmp_path, EDGE, "201", internal) == "ANSWERED"
    # Straight from the carrier's address: not identified without the header, refused
    # by the endpoint's ACL with it, whichever header it forges (Asterisk 22 answers
    # both with a 401 challenge; its log tells them apart).
    logged_from = sandbox.log_position()
    security_from = sandbox.log_position("security")
    assert offer(tmp_path, TELE2.address, "8435550101", "X-Nothing: here") == "REFUSED 401"
    assert offer(tmp_path, TELE2.address, "8435550101", stamped) == "REFUSED 401"
    assert offer(tmp_path, TELE2.address, "201", internal) == "REFUSED 401"
    # The edge without a header is the edge: its probes are answered (never a failed
    # request, which serve would count towards a ban), a call is no carrier's and rings
    # local extensions only.
    assert probe(EDGE) == "SIP/2.0 200 OK"
    assert offer(tmp_path, EDGE, "8435550101", "X-Nothing: here") == "REFUSED 404"
    log = sandbox.log_since(logged_from, "messages")
    assert log.count("- No matching endpoint found") == 1
    assert log.count("failed for '127.0.0.2:") == 3
    assert log.count("- Not match Endpoint ACL") == 2
    security = sandbox.log_since(security_from, "security")
    assert "127.0.0.10/" not in security.replace('LocalAddress="IPV4/UDP/127.0.0.10', "")


def test_calls_out_and_to_other_nodes_leave_through_the_edge(
        behind_edge: Pbxctl, tmp_path: Path) -> None:
    add_phone(behind_edge, "kazan", "203", "Boris")
    behind_edge.ok("apply", "--node", "local")
    edge = SippCarrier("edge", EDGE)
    carrier = TELE2.listen(tmp_path, 20)
    relaying = edge.reject_calls(tmp_path, count=3, code=503)
    # 203's calls as the edge relays them once it has checked the phone's password (the
    # edge is a SIPp stand-in here; test_calls_through_edge.py has the real one)
    boris = "X-Pbxctl-Phone: 203"
    assert offer(tmp_path, EDGE, "88432000000", boris, "203") == "REFUSED 503"   # national
    assert offer(tmp_path, EDGE, "301", boris, "203") == "REFUSED 503"   # Omsk's, on nb
    # a number of kazan's routed to Omsk's 301: in from the edge, back out to it
    assert offer(tmp_path, EDGE, "8435550102", "X-Pbxctl-Carrier: tele2") == "REFUSED 503"
    relaying.wait(30)
    carrier.stop()
    # tele2 (127.0.0.2) is the request URI; the INVITE went to the edge (outbound proxy)
    assert [i["ruri_user"] for i in relaying.invites()] == ["8432000000", "301", "301"]
    assert [i["from_user"] for i in relaying.invites()] == ["8435550101", "203", "202"]
    assert carrier.invites() == []
