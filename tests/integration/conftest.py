"""The sandbox Asterisk for integration tests (built when missing, started once per run),
two more sandbox nodes for the tests of several nodes, and a webhook receiver standing in
for a CRM."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sandboxkit import kamailio, sandbox, sipp
from sandboxkit.processes import wait_for
from sandboxkit.sipp import SippCarrier, SoftPhone

from pbxctl.settings import Settings
from tests.conftest import Pbxctl


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


# The named sandbox nodes of the tests of several nodes, each on its own loopback address
# (AMI on :5038, SIP on :5060 and RTP there too).
NODES = {"node-a": "127.0.0.11", "node-b": "127.0.0.12"}


def add_sandbox_node(pbxctl: Pbxctl, config_dir: Path, node: str = sandbox.DEFAULT_NODE,
                     address: str = "127.0.0.1") -> None:
    """Register the sandbox's Asterisk ``node`` (AMI, SIP and RTP on ``address``) as the
    pbxctl node of the same name."""
    for root in (config_dir, sandbox.recordings_dir(node), sandbox.log_dir(node)):
        pbxctl.allow_config_root(root)
    pbxctl.ok("node", "add", node, "--ami-host", address, "--ami-user",
              sandbox.AMI_USER, "--ami-secret", sandbox.AMI_SECRET,
              "--config-dir", str(config_dir), "--recordings-dir",
              str(sandbox.recordings_dir(node)), "--cdr-csv", str(sandbox.master_csv(node)))


def boot_sandbox_node(work: Path, node: str = sandbox.DEFAULT_NODE,
                      address: str = "127.0.0.1") -> Path:
    """Start the sandbox's Asterisk ``node`` afresh; returns its config dir.

    Its first configuration is written with ``apply --offline`` from a throwaway database
    (in ``work``), as an operator installing a new node would, then Asterisk starts on it.
    """
    config_dir = sandbox.config_dir(node)
    bootstrap = Pbxctl(f"sqlite+aiosqlite:///{work / f'boot-{node}.db'}", {})
    bootstrap.ok("init")
    add_sandbox_node(bootstrap, config_dir, node, address)
    bootstrap.ok("apply", "--offline")
    sandbox.stop(node)
    sandbox.forget_registrations(node)
    sandbox.start(node)
    return config_dir


def add_phone(pbxctl: Pbxctl, branch: str, number: str, name: str,
              address: str = "127.0.0.1") -> SoftPhone:
    """Extension ``number`` of ``branch``, as a SIPp phone with its generated credentials,
    on the loopback ``address``."""
    creds = json.loads(pbxctl.ok("ext", "add", branch, number, "--name", name,
                                 "--json").stdout)
    return SoftPhone(creds["username"], creds["password"], creds["server"], creds["port"],
                     address)


# The nodes as the edge's dispatcher names them.
EDGE_NODES = ("sip:127.0.0.11:5060", "sip:127.0.0.12:5060")
# Kazan's number, as tele2 (a SIPp carrier on 127.0.0.2, through the edge) brings it.
KAZAN_DID = "+78435550101"
TELE2_BEHIND_EDGE = SippCarrier("tele2", "127.0.0.2", asterisk=kamailio.SIP)


def kazan_and_edge_dir(pbxctl: Pbxctl) -> Path:
    """Kazan on node-a, node-b its standby; the sandbox's edge1 directory, allowed."""
    directory = sandbox.kamailio_dir("edge1")
    pbxctl.allow_config_root(directory)
    pbxctl.ok("branch", "add", "kazan", "--name", "Kazan", "--city", "Kazan", "--timezone",
              "Europe/Moscow", "--ext-range", "200-299", "--node", "node-a",
              "--standby-node", "node-b")
    return directory


def wait_until_up(edge: kamailio.SandboxKamailio, uris: tuple[str, ...] = EDGE_NODES,
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


def wait_until_registered_on_its_nodes(edge: kamailio.SandboxKamailio, extension: str,
                                      phone: SoftPhone) -> None:
    """Until every node of the extension's set at the edge (its branch's node and standby)
    shows the phone's contact. The edge sends a REGISTER to them all and answers the phone
    with the first 200: the other node may store it a moment later, and a call there
    before that finds the extension unreachable."""
    set_id = int(edge.rpc("htable.get", "extensions", extension)["item"]["value"])
    uris = [t["DEST"]["URI"] for r in edge.rpc("dispatcher.list")["RECORDS"]
            if r["SET"]["ID"] == set_id for t in r["SET"]["TARGETS"]]
    by_address = {address: node for node, address in NODES.items()}
    contact = f"{extension}/sip:{phone.username}@{phone.address}:{phone.port}"
    for node in (by_address[uri.removeprefix("sip:").split(":")[0]] for uri in uris):
        wait_for(f"{contact} on {node}",
                 lambda node=node: contact in sandbox.cli("pjsip show contacts", node))


@dataclass
class EdgeCompany:
    """The company of :func:`edge_company`, running: its phones by extension, its edge."""

    pbxctl: Pbxctl
    phones: dict[str, SoftPhone]
    edge: kamailio.SandboxKamailio


@contextmanager
def edge_company(pbxctl: Pbxctl, work: Path,
                 more: Callable[[Pbxctl], dict[str, SoftPhone]] | None = None
                 ) -> Iterator[EdgeCompany]:
    """Kazan on node-a (standby node-b), Omsk on node-b, edge1 running in front; phones
    201 (Kazan) and 301 (Omsk) and those ``more`` adds (before the first apply),
    registered through the edge; tele2's :data:`KAZAN_DID` rings 201. ``pbxctl`` has
    node-a and node-b (the ``two_nodes`` fixture)."""
    directory = kazan_and_edge_dir(pbxctl)
    pbxctl.ok("branch", "add", "omsk", "--name", "Omsk", "--city", "Omsk", "--timezone",
              "Asia/Omsk", "--ext-range", "300-399", "--node", "node-b")
    pbxctl.ok("edge", "add", "edge1", "--sip-address", "127.0.0.10", "--rpc",
              kamailio.RPC, "--config-dir", str(directory))
    # behind the edge, ext add tells each phone to register at the edge
    phones = {"201": add_phone(pbxctl, "kazan", "201", "Anna", "127.0.0.21"),
              "301": add_phone(pbxctl, "omsk", "301", "Ivan", "127.0.0.23")}
    assert {phone.server for phone in phones.values()} == {"127.0.0.10"}
    pbxctl.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip", "--match",
              "127.0.0.2", "--number-format", "national:7", "--qualify", "0")
    pbxctl.ok("number", "add", KAZAN_DID, "--carrier", "tele2", "--branch", "kazan",
              "--monthly-fee", "0.00", "--route", "ext:201")
    if more is not None:
        phones.update(more(pbxctl))
    pbxctl.ok("apply", "--offline")
    for node in NODES:     # the identifier order is read at start
        sandbox.start(node)
    edge = kamailio.start("edge1", directory)
    try:
        wait_until_up(edge)
        for phone in phones.values():
            registered = phone.register(work)
            assert registered.ok, (registered.errors, edge.log()[-3000:])
        for extension, phone in phones.items():
            wait_until_registered_on_its_nodes(edge, extension, phone)
        yield EdgeCompany(pbxctl, phones, edge)
    finally:
        edge.stop()


def calling_out(pbxctl: Pbxctl, asterisk: Path, work: Path, carrier: SippCarrier,
                extension: str, number: str) -> tuple[str, SoftPhone]:
    """A new branch (a fresh slug: Master.csv keeps earlier tests' calls) whose phone
    ``extension`` calls Russian numbers out through ``carrier`` (1.00 a minute) and is
    reached at ``number``; applied to the sandbox. Returns the slug and the phone."""
    branch = f"b{uuid.uuid4().hex[:6]}"
    hundred = extension[0]
    add_sandbox_node(pbxctl, asterisk)
    pbxctl.ok("branch", "add", branch, "--name", "Calling out", "--city", "Kazan",
              "--timezone", "Europe/Moscow", "--ext-range", f"{hundred}00-{hundred}99")
    creds = json.loads(pbxctl.ok("ext", "add", branch, extension, "--name", "Anna",
                                 "--json").stdout)
    pbxctl.ok("carrier", "add", carrier.name, "--host", carrier.address, "--auth", "ip",
              "--match", carrier.address, "--number-format", "national:7", "--qualify", "0")
    deck = work / f"{carrier.name}.csv"
    deck.write_text("prefix,destination,rate_per_minute,connect_fee,min_seconds,"
                    "increment_seconds\n7,Russia,1.0000,0.0000,0,1\n")
    pbxctl.ok("rates", "import", carrier.name, str(deck), "--valid-from", "2026-01-01")
    pbxctl.ok("number", "add", number, "--carrier", carrier.name, "--branch", branch,
              "--monthly-fee", "0.00", "--route", f"ext:{extension}")
    pbxctl.ok("branch", "outbound", branch, "--dialing", "national:7", "--carriers",
              carrier.name, "--caller-id", number, "--allow", "national")
    pbxctl.ok("apply")
    return branch, SoftPhone(creds["username"], creds["password"])


@pytest.fixture(scope="session")
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running Asterisk 22 in the sandbox (node local, on 127.0.0.1), configured by
    pbxctl; yields its config dir."""
    sandbox.build()
    try:
        yield boot_sandbox_node(tmp_path_factory.mktemp("boot"))
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def sandbox_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The sandbox's nodes node-a and node-b (:data:`NODES`) running, each its own
    Asterisk 22 with its own directories; yields their config dirs by node."""
    sandbox.build()
    work = tmp_path_factory.mktemp("boot-nodes")
    try:
        yield {node: boot_sandbox_node(work, node, address) for node, address in NODES.items()}
    finally:
        for node in NODES:
            sandbox.stop(node)


@pytest.fixture
def two_nodes(pbxctl: Pbxctl, sandbox_nodes: dict[str, Path]) -> Pbxctl:
    """pbxctl with the running sandbox nodes node-a and node-b registered under their names."""
    for node, address in NODES.items():
        add_sandbox_node(pbxctl, sandbox_nodes[node], node, address)
    return pbxctl


@pytest.fixture(autouse=True)
def sandbox_config_roots(monkeypatch: pytest.MonkeyPatch) -> None:
    """pbxctl's default node_config_roots hold the shared sandbox; one elsewhere
    (PBXCTL_SANDBOX_DIR: each shard of scripts/test_all.py has its own copy) is added for
    what reads the environment itself: API apps in the test, serve and follow processes."""
    defaults = Settings.model_fields["node_config_roots"].get_default(call_default_factory=True)
    if sandbox.directory() not in defaults:
        roots = [str(root) for root in (*defaults, sandbox.directory())]
        monkeypatch.setenv("PBXCTL_NODE_CONFIG_ROOTS", json.dumps(roots))


@pytest.fixture(autouse=True)
def no_stray_sipp() -> Iterator[None]:
    """SIPp left listening by a failed test would hold its port for the next one."""
    yield
    sipp.stop_all()


class Receiver(BaseHTTPRequestHandler):
    """A CRM's webhook endpoint that is down (503) for its first ``down_for`` requests."""

    down_for = 0
    received: list[tuple[dict[str, str], bytes, int]] = []

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 503 if len(Receiver.received) < Receiver.down_for else 204
        Receiver.received.append((dict(self.headers), body, status))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def delivered() -> list[dict[str, object]]:
    """The bodies the receiver accepted."""
    return [json.loads(body) for _, body, status in Receiver.received if status == 204]


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received, Receiver.down_for = [], 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/crm/pbx-events"
    server.shutdown()
    server.server_close()
