"""Two sandbox nodes behind a real Kamailio edge, phones registering once, at the edge,
which registers them on their branch's node and its standby: an extension on node-b
calls one on node-a and back; a carrier's call for Kazan's number is answered on node-a,
and, with no new REGISTER, on Kazan's standby node-b within 10 s of node-a's
``kill -9``. Each call between nodes has one CDR, on the caller's node (the receiving
node writes none)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sandboxkit import kamailio, sandbox
from sandboxkit.sipp import SippCarrier, SoftPhone

from tests.conftest import Pbxctl
from tests.integration.conftest import add_phone

DID = "+78435550101"
TELE2 = SippCarrier("tele2", "127.0.0.2", asterisk=kamailio.SIP)


def kazan_and_edge_dir(pbxctl: Pbxctl) -> Path:
    """Kazan on node-a, node-b its standby; the sandbox's edge1 directory, allowed."""
    directory = sandbox.kamailio_dir("edge1")
    pbxctl.allow_config_root(directory)
    pbxctl.ok("branch", "add", "kazan", "--name", "Kazan", "--city", "Kazan", "--timezone",
              "Europe/Moscow", "--ext-range", "200-299", "--node", "node-a",
              "--standby-node", "node-b")
    return directory


@pytest.fixture
def company(two_nodes: Pbxctl, tmp_path: Path) -> Iterator[tuple[Pbxctl, dict[str, SoftPhone]]]:
    """Kazan on node-a (standby node-b), Omsk on node-b, edge1 running in front; phones
    201 (Kazan) and 301 (Omsk), registered through the edge."""
    pbxctl = two_nodes
    directory = kazan_and_edge_dir(pbxctl)
    pbxctl.ok("branch", "add", "omsk", "--name", "Omsk", "--city", "Omsk", "--timezone",
              "Asia/Omsk", "--ext-range", "300-399", "--node", "node-b")
    pbxctl.ok("edge", "add", "edge1", "--sip-address", "127.0.0.10", "--rpc",
              kamailio.RPC, "--config-dir", str(directory))
    # behind the edge, ext add tells each phone to register at the edge
    anna = add_phone(pbxctl, "kazan", "201", "Anna", "127.0.0.21")
    ivan = add_phone(pbxctl, "omsk", "301", "Ivan", "127.0.0.23")
    assert (anna.server, ivan.server) == ("127.0.0.10", "127.0.0.10")
    pbxctl.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip", "--match",
              "127.0.0.2", "--number-format", "national:7", "--qualify", "0")
    pbxctl.ok("number", "add", DID, "--carrier", "tele2", "--branch", "kazan",
              "--monthly-fee", "0.00", "--route", "ext:201")
    pbxctl.ok("apply", "--offline")
    for node in ("node-a", "node-b"):     # the identifier order is read at start
        sandbox.start(node)
    edge = kamailio.start("edge1", directory)
    try:
        wait_until_up(edge, ("sip:127.0.0.11:5060", "sip:127.0.0.12:5060"))
        for phone in (anna, ivan):
            registered = phone.register(tmp_path)
            assert registered.ok, (registered.errors, edge.log()[-3000:])
        yield pbxctl, {"201": anna, "301": ivan}
    finally:
        edge.stop()


def wait_until_up(edge: kamailio.SandboxKamailio, uris: tuple[str, ...],
                  seconds: float = 20) -> None:
    """Until the edge's OPTIONS probes have found every node of ``uris`` alive."""
    deadline = time.monotonic() + seconds
    while True:
        flags = {t["DEST"]["URI"]: t["DEST"]["FLAGS"]
                 for r in edge.rpc("dispatcher.list")["RECORDS"] for t in r["SET"]["TARGETS"]}
        if all(flags.get(uri, "").startswith("A") for uri in uris):
            return
        assert time.monotonic() < deadline, (flags, edge.log()[-3000:])
        time.sleep(0.5)


def test_a_phone_registers_once_at_the_edge_and_on_both_nodes(
        company: tuple[Pbxctl, dict[str, SoftPhone]], tmp_path: Path) -> None:
    for node in ("node-a", "node-b"):       # 201: Kazan's node and its standby
        contacts = sandbox.cli("pjsip show contacts", node)
        assert "201/sip:201@127.0.0.21" in contacts, contacts
    assert "301/sip:301@127.0.0.23" in sandbox.cli("pjsip show contacts", "node-b")
    assert "301/sip:" not in sandbox.cli("pjsip show contacts", "node-a")
    # a wrong password is refused by the edge; from the tenth, the source gets 403 to
    # everything, the right password too, and the phone's own address is unharmed
    assert replace(phone_201(company), port=0).register_refused(tmp_path, "wrong").ok
    scanner = replace(phone_201(company), address="127.0.0.99", port=0, media_port=0)
    for _ in range(10):
        assert scanner.register_refused(tmp_path, "guess").ok
    assert not scanner.register(tmp_path).ok
    assert replace(phone_201(company), port=0).register(tmp_path).ok


def phone_201(company: tuple[Pbxctl, dict[str, SoftPhone]]) -> SoftPhone:
    return company[1]["201"]


def test_extensions_on_two_nodes_call_each_other_through_the_edge(
        company: tuple[Pbxctl, dict[str, SoftPhone]], tmp_path: Path) -> None:
    _, phones = company
    a_rows, b_rows = len(sandbox.cdr_rows("node-a")), len(sandbox.cdr_rows("node-b"))
    for caller, callee in (("301", "201"), ("201", "301")):
        answering = phones[callee].answer_one_call(tmp_path)
        placed = phones[caller].call(tmp_path, callee, hold_ms=1000)
        assert placed.ok, placed.errors
        assert answering.wait().ok
    time.sleep(1)
    on_a = [r for r in sandbox.cdr_rows("node-a")[a_rows:] if r["disposition"] == "ANSWERED"]
    on_b = [r for r in sandbox.cdr_rows("node-b")[b_rows:] if r["disposition"] == "ANSWERED"]
    # one CDR per call, on the caller's node
    assert [(r["src"], r["dst"]) for r in on_b] == [("301", "201")]
    assert [(r["src"], r["dst"]) for r in on_a] == [("201", "301")]
    # 301 → 201: node-b, Kazan's standby, has 201's registration too and rings it there
    # (through the edge, by its Path); 201 → 301: node-a calls node-b through the edge
    assert all(r["dstchannel"].startswith("PJSIP/201-") for r in on_b), on_b
    assert all(r["dstchannel"].startswith("PJSIP/pbxctl_edge-") for r in on_a), on_a


def test_a_dead_nodes_number_is_answered_on_the_standby(
        company: tuple[Pbxctl, dict[str, SoftPhone]], tmp_path: Path) -> None:
    _, phones = company
    answering = phones["201"].answer_one_call(tmp_path)
    assert TELE2.call(tmp_path, "8435550101").ok
    assert answering.wait().ok                            # on node-a
    assert sandbox.kill_hard("node-a") >= 1
    killed = time.monotonic()
    try:
        answering = phones["201"].answer_one_call(tmp_path)     # registered before
        called = TELE2.call(tmp_path, "8435550101")
        assert called.ok, called.errors
        assert answering.wait().ok                        # on node-b, Kazan's standby
        elapsed = time.monotonic() - killed
        assert elapsed < 10, elapsed
    finally:
        sandbox.start("node-a")
