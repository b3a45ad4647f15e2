"""``pbxctl serve`` as a process: it answers, and SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

from sandboxkit.processes import start_serve

from tests.conftest import Pbxctl


def test_serve_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    Pbxctl(url, {}).ok("init")
    server, base = start_serve(url)
    try:
        with urllib.request.urlopen(base + "healthz", timeout=2) as response:
            assert json.load(response) == {"status": "ok"}
    finally:
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=20)
    assert server.returncode == 0, err
