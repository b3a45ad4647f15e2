"""Bad input is refused with a message naming the field, and changes nothing: no CLI input
can add a line, a section or a dialplan application to a rendered file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Pbxctl

PAYLOADS = [
    "Anna\n[general]",
    "Anna\r\nexten => _X.,1,System(id)",
    "Anna; comment",
    "Anna]",
    "[Anna",
    "#include /etc/passwd",
    '"Anna" <999>',
    "Anna&PJSIP/evil",
    "${SHELL(id)}",
    "",
    "x" * 65,
]

SLUG_PAYLOADS = ["general", "globals", "default", "Kazan", "ka zan", "kazan;", "kazan]",
                 "kazan\n", "-kazan", "pbxctl-x", "k", "x" * 40, "#include"]


def _state(pbxctl: Pbxctl, config_dir: Path) -> tuple[str, str, str]:
    rendered = pbxctl.ok("apply", "--dry-run").stdout
    return (rendered, pbxctl.ok("branch", "list", "--json").stdout,
            pbxctl.ok("ext", "list", "--json").stdout)


@pytest.fixture
def baseline(company: Pbxctl, config_dir: Path) -> tuple[str, str, str]:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna Petrova")
    return _state(company, config_dir)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_names_cannot_inject_config(company: Pbxctl, config_dir: Path,
                                    baseline: tuple[str, str, str], payload: str) -> None:
    attempts = [
        ("ext", "add", "kazan", "202", "--name", payload),
        ("branch", "add", "perm", "--name", payload, "--city", "Perm",
         "--timezone", "Asia/Yekaterinburg", "--ext-range", "400-499"),
        ("branch", "add", "perm", "--name", "Perm", "--city", payload,
         "--timezone", "Asia/Yekaterinburg", "--ext-range", "400-499"),
        ("ext", "add", "kazan", "203", "--name", "Ok Name", "--department", payload),
    ]
    for args in attempts:
        result = company(*args)
        assert result.exit_code == 2, (args, result.stderr)
        field = args[args.index(payload) - 1] if args[args.index(payload) - 1].startswith(
            "--") else "number"
        assert field in result.stderr, (field, result.stderr)
    assert _state(company, config_dir) == baseline


@pytest.mark.parametrize("slug", SLUG_PAYLOADS)
def test_reserved_or_malformed_slugs_are_refused(company: Pbxctl, config_dir: Path,
                                                 baseline: tuple[str, str, str],
                                                 slug: str) -> None:
    result = company("branch", "add", "--name", "Perm", "--city", "Perm",
                     "--timezone", "Asia/Yekaterinburg", "--ext-range", "400-499", "--", slug)
    assert result.exit_code == 2
    assert "slug" in result.stderr
    assert _state(company, config_dir) == baseline


@pytest.mark.parametrize(("option", "value"), [
    ("--timezone", "Mars/Olympus"), ("--timezone", "Europe/Moscow\n"),
    ("--timezone", "../../etc/passwd"), ("--ext-range", "200-1999"),
    ("--ext-range", "299-200"), ("--ext-range", "4OO-499"), ("--ext-range", "0400-0499"),
    ("--ext-range", "400-499;"), ("--ext-range", "10000-99999"),
])
def test_bad_timezones_and_ranges_are_refused(company: Pbxctl, config_dir: Path,
                                              baseline: tuple[str, str, str], option: str,
                                              value: str) -> None:
    args = {"--name": "Perm", "--city": "Perm", "--timezone": "Asia/Yekaterinburg",
            "--ext-range": "400-499", option: value}
    result = company("branch", "add", "perm", *[x for kv in args.items() for x in kv])
    assert result.exit_code == 2 and option in result.stderr
    assert _state(company, config_dir) == baseline


@pytest.mark.parametrize("number", ["2O1", "201;", "201\n", "0201", "2", "*201", "201&301"])
def test_bad_extension_numbers_are_refused(company: Pbxctl, baseline: tuple[str, str, str],
                                           config_dir: Path, number: str) -> None:
    result = company("ext", "add", "kazan", number, "--name", "Someone")
    assert result.exit_code == 2 and "number" in result.stderr
    assert _state(company, config_dir) == baseline


@pytest.mark.parametrize(("option", "value"), [
    ("--ami-user", "admin\n[evil]"), ("--ami-user", "general"), ("--ami-secret", "short"),
    ("--ami-secret", "with space s"), ("--ami-secret", "semi;colon12"),
    ("--ami-host", "host name"), ("--sip-address", "example.com"), ("--ami-port", "70000"),
    ("--config-dir", "relative/../../x"),
])
def test_bad_node_settings_are_refused(company: Pbxctl, config_dir: Path, option: str,
                                       value: str) -> None:
    args = {"--ami-host": "127.0.0.1", "--ami-user": "pbxctl", "--ami-secret": "secret-123",
            "--config-dir": str(config_dir), option: value}
    result = company("node", "add", "second", *[x for kv in args.items() for x in kv])
    assert result.exit_code == 2, result.stderr
    nodes = json.loads(company.ok("node", "list", "--json").stdout)
    assert [n["name"] for n in nodes] == ["local"]
