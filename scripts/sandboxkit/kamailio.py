"""A Kamailio edge running in the sandbox's chroot on the files pbxctl wrote to a
:func:`sandbox.kamailio_dir`: started in the foreground as the chroot's kamailio user,
its log in the chroot's /var/log/kamailio-pbxctl, stopped by the test that started it."""

from __future__ import annotations

import json
import os
import signal
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


def start(name: str, config_dir: Path, rpc_address: str = RPC,
          timeout: float = 30) -> SandboxKamailio:
    """Start Kamailio on ``config_dir``/kamailio.cfg and wait until its RPC answers.

    The files become readable by the chroot's kamailio group; its directories keep that
    group for files written later (set-group-ID), as an operator would set up
    /etc/kamailio for pbxctl writing as another user."""
    root = sandbox.directory().resolve()
    _share_with_kamailio(config_dir, _group_id(root))
    log_path = root / "var" / "log" / "kamailio-pbxctl" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["chroot", str(root), "kamailio", "-f", str(config_dir / "kamailio.cfg"),
             "-DD", "-E", "-u", USER, "-g", USER], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
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


def _group_id(root: Path) -> int:
    for line in (root / "etc" / "group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == USER:
            return int(fields[2])
    raise RuntimeError(f"the sandbox at {root} has no {USER} group; rebuild it")


def _share_with_kamailio(config_dir: Path, gid: int) -> None:
    for path in [config_dir, *config_dir.rglob("*")]:
        os.chown(path, -1, gid)
        if path.is_dir():
            path.chmod(0o2750)
