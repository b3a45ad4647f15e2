"""``pbxctl apply --edge`` against the sandbox's real Kamailio: the dispatcher set and the
number tables are reloaded over JSON-RPC and verified, a carrier's call goes through the
edge to the branch's node with the carrier header, a new number needs only the htable
reloaded, a carrier known by its network is recognised from any address in it (its call
over TCP), and a reload Kamailio refuses leaves the previous files and routing in place.

The nodes are SIPp stand-ins (their Asterisk is not needed to route at the edge). The
edge's kamailio.cfg is the shipped template with one line added through a template
override: its dispatcher takes one reload an hour, so the second dispatcher change is
refused by Kamailio itself."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandboxkit import kamailio, sandbox
from sandboxkit.sipp import SippCarrier

from pbxctl.render.templates import packaged_template_dirs
from tests.conftest import Pbxctl

NODE_A, NODE_B = "127.0.0.11", "127.0.0.12"
TELE2 = SippCarrier("tele2", "127.0.0.2", asterisk=kamailio.SIP)
ONE_RELOAD_AN_HOUR = 'modparam("dispatcher", "reload_delta", 3600)\n'


def stingy_templates(directory: Path) -> Path:
    """A template override: the shipped kamailio.cfg.j2, its dispatcher allowing one
    reload an hour."""
    shipped = next(d / "kamailio.cfg.j2" for d in packaged_template_dirs()
                   if (d / "kamailio.cfg.j2").exists()).read_text()
    anchor = 'modparam("dispatcher", "flags", 2)\n'
    assert anchor in shipped
    directory.mkdir()
    (directory / "kamailio.cfg.j2").write_text(
        shipped.replace(anchor, anchor + ONE_RELOAD_AN_HOUR))
    return directory


@pytest.fixture
def edge_dir(pbxctl: Pbxctl, tmp_path: Path) -> Path:
    """An edge edge1 in the sandbox, nodes na and nb, branch kazan on na, carrier tele2
    (127.0.0.2) and its number; the edge's first files written offline."""
    sandbox.build()
    directory = sandbox.kamailio_dir("edge1")
    pbxctl.allow_config_root(directory)
    pbxctl.env["PBXCTL_TEMPLATE_DIR"] = str(stingy_templates(tmp_path / "templates"))
    add_nodes_kazan_and_tele2(pbxctl, tmp_path)
    pbxctl.ok("edge", "add", "edge1", "--sip-address", "127.0.0.10", "--rpc",
              kamailio.RPC, "--config-dir", str(directory))
    written = pbxctl.ok("apply", "--edge", "edge1", "--offline").stderr
    assert "edge edge1: wrote" in written, written
    return directory


def add_nodes_kazan_and_tele2(pbxctl: Pbxctl, tmp_path: Path) -> None:
    """Nodes na and nb (SIPp stand-ins), branch kazan on na, carrier tele2 calling from
    127.0.0.2 and its number for kazan."""
    for name, address in (("na", NODE_A), ("nb", NODE_B)):
        (tmp_path / name).mkdir()
        pbxctl.ok("node", "add", name, "--ami-host", address, "--ami-user", "pbxctl",
                  "--ami-secret", f"secret-of-{name}", "--sip-address", address,
                  "--config-dir", str(tmp_path / name))
    pbxctl.ok("branch", "add", "kazan", "--name", "Kazan", "--city", "Kazan", "--timezone",
              "Europe/Moscow", "--ext-range", "200-299", "--node", "na")
    pbxctl.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip", "--match",
              "127.0.0.2", "--number-format", "national:7")
    pbxctl.ok("number", "add", "+78435550101", "--carrier", "tele2", "--branch", "kazan",
              "--monthly-fee", "0.00", "--route", "branch:kazan")


@pytest.fixture
def edge(edge_dir: Path) -> Iterator[kamailio.SandboxKamailio]:
    """Kamailio running on the edge's files, stopped after the test."""
    running = kamailio.start("edge1", edge_dir)
    try:
        yield running
    finally:
        running.stop()


def destinations(edge: kamailio.SandboxKamailio) -> dict[int, dict[str, tuple[int, str]]]:
    """Set id -> {URI: (priority, flags)} as Kamailio's dispatcher.list shows them."""
    return {record["SET"]["ID"]: {t["DEST"]["URI"]: (t["DEST"]["PRIORITY"], t["DEST"]["FLAGS"])
                                  for t in record["SET"]["TARGETS"]}
            for record in edge.rpc("dispatcher.list")["RECORDS"]}


def wait_until_up(edge: kamailio.SandboxKamailio, uri: str, seconds: float = 15) -> None:
    """Until the dispatcher's OPTIONS probes have found ``uri`` alive (flags ``A…``)."""
    deadline = time.monotonic() + seconds
    while not destinations(edge)[1][uri][1].startswith("A"):
        assert time.monotonic() < deadline, (destinations(edge), edge.log()[-2000:])
        time.sleep(0.5)


def call_through_edge(edge: kamailio.SandboxKamailio, work: Path, called: str,
                      carrier: SippCarrier = TELE2) -> str:
    """``carrier`` calls ``called`` at the edge; node na's stand-in answers. Its log."""
    node_a = SippCarrier("na", NODE_A).answer_one_call_from_edge(work)
    wait_until_up(edge, f"sip:{NODE_A}:5060")
    called_ok = carrier.call(work, called)
    answered = node_a.wait()
    assert called_ok.ok, (called_ok.errors, edge.log()[-3000:])
    assert answered.ok, (answered.errors, edge.log()[-3000:])
    assert node_a.log_file is not None
    return node_a.log_file.read_text()


def test_edge_apply_reloads_verifies_routes_and_rolls_back(
        pbxctl: Pbxctl, edge_dir: Path, edge: kamailio.SandboxKamailio,
        tmp_path: Path) -> None:
    pbxctl.ok("branch", "update", "kazan", "--standby-node", "nb")
    applied = pbxctl.ok("apply", "--edge", "edge1")
    assert "+1 sip:127.0.0.12:5060 0 5 name=nb" in applied.stdout
    assert ("edge edge1: applied; reloaded dispatcher; Kamailio shows 2 destination(s) "
            "as rendered.") in applied.stderr, applied.stderr
    shown = destinations(edge)
    assert {uri: priority for uri, (priority, _) in shown[1].items()} == {
        f"sip:{NODE_A}:5060": 10, f"sip:{NODE_B}:5060": 5}
    assert list(shown) == [1]

    log = call_through_edge(edge, tmp_path, "8435550101")
    assert "EDGE INVITE ruri_user=8435550101 carrier=tele2" in log

    # A second number: only the numbers table changes, and it routes at once.
    pbxctl.ok("number", "add", "+78435550102", "--carrier", "tele2", "--branch", "kazan",
              "--monthly-fee", "0.00", "--route", "branch:kazan")
    applied = pbxctl.ok("apply", "--edge", "edge1")
    assert ("edge edge1: applied; reloaded htable numbers; Kamailio shows 2 destination(s) "
            "as rendered.") in applied.stderr, applied.stderr
    assert "+8435550102:0:0:1:0" in applied.stdout
    log = call_through_edge(edge, tmp_path, "8435550102")
    assert "EDGE INVITE ruri_user=8435550102 carrier=tele2" in log

    # A carrier known by its network: any address in it is that carrier (over TCP here).
    pbxctl.ok("carrier", "add", "mts", "--host", "127.0.3.1", "--auth", "ip", "--match",
              "127.0.3.0/24", "--transport", "tcp", "--number-format", "national:7")
    pbxctl.ok("number", "add", "+78435550103", "--carrier", "mts", "--branch", "kazan",
              "--monthly-fee", "0.00", "--route", "branch:kazan")
    applied = pbxctl.ok("apply", "--edge", "edge1")
    assert "reloaded htable numbers, carrier addresses;" in applied.stderr, applied.stderr
    assert edge.rpc("permissions.subnetDump")[0]["item"] == {
        "ip": "127.0.3.0", "mask": 24, "port": 0, "tag": "mts"}
    mts = SippCarrier("mts", "127.0.3.7", asterisk=kamailio.SIP, transport="tcp")
    log = call_through_edge(edge, tmp_path, "8435550103", mts)
    assert "EDGE INVITE ruri_user=8435550103 carrier=mts" in log

    # A new branch needs a dispatcher reload, which this Kamailio refuses now.
    before = {path: path.read_text() for path in sorted(edge_dir.rglob("*"))
              if path.is_file() and not path.name.startswith(".")}
    pbxctl.ok("branch", "add", "omsk", "--name", "Omsk", "--city", "Omsk", "--timezone",
              "Asia/Omsk", "--ext-range", "300-399", "--node", "nb")
    pbxctl.ok("number", "add", "+73812550103", "--carrier", "tele2", "--branch", "omsk",
              "--monthly-fee", "0.00", "--route", "branch:omsk")
    refused = pbxctl("apply", "--edge", "edge1")
    assert refused.exit_code == 1, (refused.stdout, refused.stderr)
    assert "edge edge1: Kamailio (edge edge1) refused dispatcher.reload: Ongoing reload; " \
           "the previous files were restored" in refused.stderr, refused.stderr
    assert {path: path.read_text() for path in before} == before
    assert list(destinations(edge)) == [1]
    with pytest.raises(kamailio.RpcRefused):
        edge.rpc("htable.get", "numbers", "3812550103")
    log = call_through_edge(edge, tmp_path, "8435550101")
    assert "EDGE INVITE ruri_user=8435550101 carrier=tele2" in log
    audit = json.loads(pbxctl.ok("audit", "--json").stdout)
    assert [(a["action"], a["object_type"], a["object_key"]) for a in audit
            if a["action"].startswith("apply")] == [
        ("apply", "edge", "edge1"), ("apply", "edge", "edge1"), ("apply", "edge", "edge1"),
        ("apply", "edge", "edge1"), ("apply.failed", "edge", "edge1")]
