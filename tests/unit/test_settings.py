"""Settings: defaults, TOML file, environment wins, clear errors."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest

from pbxctl.errors import PbxctlError
from pbxctl.settings import DEFAULT_DATABASE_URL, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PBXCTL_DATABASE_URL", "PBXCTL_TEMPLATE_DIR", "PBXCTL_ACTOR",
                "PBXCTL_AMI_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)


def test_defaults_to_embedded_sqlite() -> None:
    assert load_settings().database_url == DEFAULT_DATABASE_URL


def test_toml_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "pbxctl.toml"
    config.write_text('database_url = "postgresql+asyncpg://pbx@db/pbx"\nactor = "ops"\n')
    settings = load_settings(config)
    assert settings.database_url == "postgresql+asyncpg://pbx@db/pbx"
    assert settings.actor == "ops"
    monkeypatch.setenv("PBXCTL_ACTOR", "alice")
    assert load_settings(config).actor == "alice"


@pytest.mark.parametrize(("content", "message"), [
    ('database_url = "mysql://x"', "database_url"),
    ('databse_url = "sqlite+aiosqlite:///x"', "databse_url"),
    ("ami_timeout = -1", "ami_timeout"),
    ("not toml at all", "pbxctl.toml"),
])
def test_bad_settings_are_named(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "pbxctl.toml"
    config.write_text(content)
    with pytest.raises(PbxctlError, match=message):
        load_settings(config)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PbxctlError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_never_banned_networks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().ban_allow_networks == [ip_network("127.0.0.1/32"),
                                                  ip_network("::1/128")]
    monkeypatch.setenv("PBXCTL_BAN_ALLOW_NETWORKS", '["192.0.2.0/24", "2001:db8::/32"]')
    assert load_settings().ban_allow_networks == [ip_network("192.0.2.0/24"),
                                                  ip_network("2001:db8::/32")]
    config = tmp_path / "pbxctl.toml"
    config.write_text('ban_allow_networks = ["office.example.com"]\n')
    monkeypatch.delenv("PBXCTL_BAN_ALLOW_NETWORKS")
    with pytest.raises(PbxctlError, match="ban_allow_networks.0"):
        load_settings(config)


@pytest.mark.parametrize("seconds", [366 * 86400 + 1, 0])
def test_a_ban_longer_than_366_days_is_refused_at_start(
        monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
    monkeypatch.setenv("PBXCTL_BAN_FOR", str(seconds))
    with pytest.raises(PbxctlError, match="ban_for"):
        load_settings()
    monkeypatch.setenv("PBXCTL_BAN_FOR", str(366 * 86400))
    assert load_settings().ban_for == 366 * 86400
