"""A Kamailio edge running on the files pbxctl wrote to a :func:`sandbox.kamailio_dir`:
started in the foreground as the kamailio user, its log in the chroot's
/var/log/kamailio-pbxctl, stopped by the test that started it.

Two Kamailios can run an edge: the sandbox chroot's (Debian sid's package) and this
host's (Debian 12's, Kamailio 5.6, installed by ``scripts/sandbox.sh build``). A sandbox
path names the same file on the host and in the chroot, so either reads the same files.
:func:`default` is the chroot's unless ``PBXCTL_EDGE_KAMAILIO=host`` asks for the host's
(to run every live edge test on it)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import sandbox

SIP = "127.0.0.10:5060"
RPC = "127.0.0.10:5090"
USER = "kamailio"
HOST_PROGRAM = Path("/usr/sbin/kamailio")
CHOICE_VARIABLE = "PBXCTL_EDGE_KAMAILIO"


@dataclass(frozen=True)
class Installation:
    """A Kamailio to run: the sandbox chroot's (``root`` its directory) or the host's."""

    label: str
    root: Path | None

    def command(self, *arguments: str) -> list[str]:
        """``kamailio arguments``, run in the chroot or on the host."""
        if self.root is None:
            return [str(HOST_PROGRAM), *arguments]
        return ["chroot", str(self.root), "kamailio", *arguments]

    def version(self) -> str:
        """Its version as ``kamailio -v`` prints it (``5.6.3``)."""
        printed = subprocess.run(self.command("-v"), capture_output=True, text=True,
                                 timeout=30, check=True).stdout
        return printed.split()[2]

    def check(self, config: Path) -> subprocess.CompletedProcess[str]:
        """``kamailio -c``: ``config`` checked without starting Kamailio."""
        return subprocess.run(self.command("-c", "-f", str(config)), capture_output=True,
                              text=True, timeout=60)

    def group_file(self) -> Path:
        """The /etc/group naming its kamailio user's group."""
        return (self.root or Path("/")) / "etc" / "group"


def chroot() -> Installation:
    """The sandbox chroot's Kamailio (Debian sid's)."""
    return Installation("sandbox chroot", sandbox.directory().resolve())


def host() -> Installation:
    """This host's Kamailio (Debian 12's 5.6), which ``scripts/sandbox.sh build`` installs."""
    if not HOST_PROGRAM.exists():
        raise RuntimeError(f"{HOST_PROGRAM} is missing: run 'make sandbox' (as root), which "
                           "installs the host's kamailio package")
    return Installation("host", None)


def default() -> Installation:
    """The chroot's Kamailio, or the host's when ``PBXCTL_EDGE_KAMAILIO=host``."""
    choice = os.environ.get(CHOICE_VARIABLE, "chroot")
    if choice not in ("chroot", "host"):
        raise RuntimeError(f"{CHOICE_VARIABLE} is {choice!r}: 'chroot' or 'host'")
    return host() if choice == "host" else chroot()


class RpcRefused(Exception):
    """Kamailio answered a JSON-RPC call with an error."""


@dataclass
class SandboxKamailio:
    """One running Kamailio and where to read what it logged."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    rpc_address: str = RPC

    def rpc(self, method: str, *params: str) -> Any:
        """The result of a JSON-RPC call (:class:`RpcRefused` for an error answer)."""
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params),
                           "id": 1}).encode()
        request = urllib.request.Request(f"http://{self.rpc_address}/RPC", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as refused:   # Kamailio answers an error with 500
            answer = json.loads(refused.read())
        if "error" in answer:
            raise RpcRefused(f"{method}: {answer['error']}")
        return answer["result"]

    def log(self) -> str:
        """Everything this Kamailio has logged so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop it (SIGTERM to its process group, SIGKILL after 10 s)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start(name: str, config_dir: Path, rpc_address: str = RPC, timeout: float = 30,
          installation: Installation | None = None) -> SandboxKamailio:
    """Start Kamailio (``installation``, else :func:`default`) on
    ``config_dir``/kamailio.cfg and wait until its RPC answers.

    The files become readable by the kamailio group; its directories keep that group for
    files written later (set-group-ID), as an operator would set up /etc/kamailio for
    pbxctl writing as another user."""
    installation = installation or default()
    if installation.root is None:
        _check_reachable(config_dir)
    root = sandbox.directory().resolve()
    _share_with_kamailio(config_dir, _group_id(installation.group_file()))
    log_path = root / "var" / "log" / "kamailio-pbxctl" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            installation.command("-f", str(config_dir / "kamailio.cfg"), "-DD", "-E",
                                 "-u", USER, "-g", USER),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    edge = SandboxKamailio(name, process, log_path, rpc_address)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"Kamailio {name} exited ({process.returncode}):\n"
                               f"{edge.log()[-3000:]}")
        try:
            edge.rpc("core.version")
            return edge
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                edge.stop()
                raise RuntimeError(f"Kamailio {name}'s RPC did not answer within "
                                   f"{timeout:g} s:\n{edge.log()[-3000:]}") from None
            time.sleep(0.2)


def _check_reachable(config_dir: Path) -> None:
    """The host's Kamailio reads the files as its own user: every directory above them
    must let others through (a 0700 temporary directory would not)."""
    for parent in config_dir.resolve().parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise RuntimeError(f"the host's Kamailio (user {USER}) cannot reach {config_dir}: "
                               f"{parent} is closed to others (chmod o+x)")


def _group_id(group_file: Path) -> int:
    for line in group_file.read_text().splitlines():
        fields = line.split(":")
        if fields[0] == USER:
            return int(fields[2])
    raise RuntimeError(f"{group_file} has no {USER} group; rebuild the sandbox")


def _share_with_kamailio(config_dir: Path, gid: int) -> None:
    for path in [config_dir, *config_dir.rglob("*")]:
        os.chown(path, -1, gid)
        if path.is_dir():
            path.chmod(0o2750)
