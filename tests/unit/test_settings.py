"""Settings: defaults, TOML file, environment wins, clear errors."""

from __future__ import annotations

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
