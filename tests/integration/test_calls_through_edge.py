"""Two sandbox nodes behind a real Kamailio edge, phones registering once, at the edge,
which registers them on their branch's node and its standby: an extension on node-b
calls one on node-a and back; a carrier's call for Kazan's number is answered on node-a,
and, with no new REGISTER, on Kazan's standby node-b within 10 s of node-a's
``kill -9``. Each call between nodes has one CDR, on the caller's node (the receiving
node writes none). Omsk's 301 calls out through the edge to a carrier on TCP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sandboxkit import sandbox
from sandboxkit.sipp import SippCarrier, SoftPhone

from tests.conftest import Pbxctl
from tests.integration.conftest import KAZAN_DID, TELE2_BEHIND_EDGE, edge_company

DID = KAZAN_DID
TELE2 = TELE2_BEHIND_EDGE


@pytest.fixture
def company(two_nodes: Pbxctl, tmp_path: Path) -> Iterator[tuple[Pbxctl, dict[str, SoftPhone]]]:
    """Kazan on node-a (standby node-b), Omsk on node-b, edge1 running in front; phones
    201 (Kazan) and 301 (Omsk), registered through the edge."""
    with edge_company(two_nodes, tmp_path) as running:
        yield running.pbxctl, running.phones


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


# a carrier on TCP only: the node hands the call to the edge over UDP, the edge takes it on
MTS_TCP = SippCarrier("mts", "127.0.0.3", transport="tcp")


def omsk_calling_out_over_tcp(pbxctl: Pbxctl) -> dict[str, SoftPhone]:
    pbxctl.ok("carrier", "add", "mts", "--host", MTS_TCP.address, "--auth", "ip", "--match",
              MTS_TCP.address, "--transport", "tcp", "--number-format", "national:7",
              "--qualify", "0")
    pbxctl.ok("number", "add", "+73812550101", "--carrier", "mts", "--branch", "omsk",
              "--monthly-fee", "0.00", "--route", "ext:301")
    pbxctl.ok("branch", "outbound", "omsk", "--dialing", "national:7", "--carriers", "mts",
              "--caller-id", "+73812550101", "--allow", "national")
    return {}


def test_a_call_out_reaches_a_tcp_carrier_through_the_edge(two_nodes: Pbxctl,
                                                           tmp_path: Path) -> None:
    with edge_company(two_nodes, tmp_path, omsk_calling_out_over_tcp) as running:
        carrier = MTS_TCP.answer_one_call(tmp_path)
        placed = running.phones["301"].call(tmp_path, "88122000001", hold_ms=1000)
        assert placed.ok, (placed.errors, running.edge.log()[-3000:])
        answered = carrier.wait()
        assert answered.ok, (answered.errors, running.edge.log()[-3000:])
        assert [(i["ruri_user"], i["from_user"]) for i in carrier.invites()] == [
            ("8122000001", "3812550101")]
