"""pbxctl's long-running commands started as real processes for a test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import IO

from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pbxctl(database_url: str, *args: str, stdout: int = subprocess.DEVNULL,
            env: dict[str, str] | None = None, stderr: IO[str] | int = subprocess.PIPE
            ) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pbxctl.cli", *args],
                            env={**os.environ, "PBXCTL_DATABASE_URL": database_url,
                                 **(env or {})},
                            stdout=stdout, stderr=stderr, text=True)


def wait_for(what: str, condition: Callable[[], bool], seconds: float = 60) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def start_serve(database_url: str, env: dict[str, str] | None = None,
                log: IO[str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """``pbxctl serve`` on a free port, once /healthz answers; returns it and its URL.
    Its log goes to ``log`` when given, else to a pipe to read after stopping it."""
    port = free_port()
    process = _pbxctl(database_url, "serve", "--port", str(port), env=env,
                      stderr=log if log is not None else subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    # (a start takes seconds; on a loaded machine, at idle priority, once over 20)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "healthz", timeout=2).close()
            return process, url
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError("pbxctl serve did not start") from None
            time.sleep(0.2)


def metrics(base: str) -> dict[tuple[str, str], float]:
    """serve's /metrics (``base``: its URL) as {(sample name, node or ''): value}."""
    with urllib.request.urlopen(base + "metrics", timeout=5) as response:
        text = response.read().decode()
    return {(s.name, s.labels.get("node", "")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def metric(base: str, name: str, **labels: str) -> float:
    """The sum of serve's samples ``name`` whose labels include ``labels`` (``base``: its
    URL)."""
    with urllib.request.urlopen(base + "metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(s.value for family in text_string_to_metric_families(text)
               for s in family.samples if s.name == name and labels.items() <= s.labels.items())


def start_follow(database_url: str, *args: str) -> subprocess.Popen[str]:
    """``pbxctl cdr follow --node local`` once it says it is following."""
    process = _pbxctl(database_url, "cdr", "follow", "--node", "local", *args,
                      stdout=subprocess.PIPE)
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "Following CDRs" in line, line
    return process
