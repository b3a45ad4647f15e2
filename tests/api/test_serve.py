"""``pbxctl serve`` as a process: it answers, and SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet
from sandboxkit.processes import free_port, start_serve

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


def test_serve_with_a_wrong_key_stops_at_once_and_says_why(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    pbxctl = Pbxctl(url, {})
    pbxctl.allow_config_root(tmp_path)
    pbxctl.ok("init")
    pbxctl.ok("node", "add", "local", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl",
              "--ami-secret", "test-secret-1", "--config-dir", str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "pbxctl.cli", "serve", "--port", str(free_port())],
        env={**os.environ, "PBXCTL_DATABASE_URL": url,
             "PBXCTL_SECRETS_KEY": Fernet.generate_key().decode()},
        capture_output=True, text=True, check=False, timeout=120)  # it must not serve
    assert done.returncode == 1, done.stderr
    assert "wrong key" in done.stderr and "PBXCTL_SECRETS_KEY" in done.stderr
    assert "Traceback" not in done.stderr
