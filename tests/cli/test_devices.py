"""Devices through the CLI: added by MAC with their own SIP login, listed without secrets,
removed by MAC or name; bad input refused naming the option, nothing changed; the
rendered PJSIP lets each device in with its own password; ext qr writes its PNG 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.conftest import Pbxctl


def _state(company: Pbxctl) -> tuple[str, str]:
    return (company.ok("device", "list", "--json").stdout,
            company.ok("audit", "--json").stdout)


def test_devices_are_added_listed_and_removed(company: Pbxctl) -> None:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna Petrova")
    added = company.ok("device", "add", "201", "--mac", "80:5E:C0:12:34:56",
                       "--model", "yealink-t4x")
    assert "/p/" in added.stdout and "shown only now" in added.stderr
    company.ok("device", "add", "201", "--mac", "80-5e-c0-ab-cd-ef", "--model", "snom-d7xx")
    listed = json.loads(company.ok("device", "list", "--json").stdout)
    assert listed == [
        {"name": "201-805ec0123456", "extension": "201", "mac": "80:5E:C0:12:34:56",
         "model": "yealink-t4x"},
        {"name": "201-805ec0abcdef", "extension": "201", "mac": "80:5E:C0:AB:CD:EF",
         "model": "snom-d7xx"}]
    assert "80:5E:C0:12:34:56" in company.ok("device", "list", "--extension", "201").stdout

    rendered = company.ok("apply", "--dry-run").stdout
    assert "+auth=201-auth,201-805ec0123456,201-805ec0abcdef\n" in rendered
    assert "+[201-805ec0123456]\n" in rendered and "+username=201-805ec0123456\n" in rendered

    company.ok("device", "remove", "805ec0123456")
    company.ok("device", "remove", "201-805ec0abcdef")
    assert json.loads(company.ok("device", "list", "--json").stdout) == []
    actions = [e["action"] for e in json.loads(company.ok("audit", "--json").stdout)]
    assert actions[-4:] == ["device.add", "device.add", "device.remove", "device.remove"]


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--mac", "80:5E:C0:12:34", "--model", "generic"), 2, "--mac: '80:5E:C0:12:34' is not"),
    (("--mac", "80:5E:C0:12:34:5G", "--model", "generic"), 2, "--mac:"),
    (("--mac", "01:00:5E:00:00:01", "--model", "generic"), 2, "group address"),
    (("--mac", "00:00:00:00:00:00", "--model", "generic"), 2, "all zeros"),
    (("--mac", "80:5E:C0:12:34:56", "--model", "cisco"), 2, "'cisco' is not one of"),
    (("--mac", "80:5E:C0:00:00:01", "--model", "generic"), 1, "already device 201-805ec0000001"),
])
def test_bad_devices_are_refused_and_change_nothing(
        company: Pbxctl, args: tuple[str, ...], code: int, message: str) -> None:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna Petrova")
    company.ok("ext", "add", "kazan", "202", "--name", "Boris")
    company.ok("device", "add", "201", "--mac", "805ec0000001", "--model", "generic")
    before = _state(company)
    result = company("device", "add", "202", *args)
    assert result.exit_code == code and message in result.stderr, result.stderr
    assert _state(company) == before


def test_an_extension_keeps_two_devices_and_unknown_ones_are_named(company: Pbxctl) -> None:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna Petrova")
    company.ok("device", "add", "201", "--mac", "805ec0000001", "--model", "generic")
    company.ok("ext", "qr", "201", "--json")
    before = _state(company)
    third = company("device", "add", "201", "--mac", "805ec0000002", "--model", "generic")
    assert third.exit_code == 1 and "has 2 devices (201-805ec0000001, 201-app)" in third.stderr
    missing = company("device", "add", "299", "--mac", "805ec0000002", "--model", "generic")
    assert missing.exit_code == 1 and "no extension 299" in missing.stderr
    unknown = company("device", "remove", "805ec0000009")
    assert unknown.exit_code == 1 and "no device 805ec0000009" in unknown.stderr
    junk = company("device", "remove", "201;x")
    assert junk.exit_code == 2 and "neither a MAC address nor a device name" in junk.stderr
    listing = company("device", "list", "--extension", "2x1")
    assert listing.exit_code == 2 and "--extension: '2x1' is not an extension" in listing.stderr
    minutes = company("ext", "qr", "201", "--minutes", "0")
    assert minutes.exit_code == 2 and "--minutes: must be 1 to 10080" in minutes.stderr
    assert _state(company) == before


def test_removing_an_extension_removes_its_devices(company: Pbxctl) -> None:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna Petrova")
    company.ok("device", "add", "201", "--mac", "805ec0000001", "--model", "generic")
    company.ok("ext", "remove", "201")
    assert json.loads(company.ok("device", "list", "--json").stdout) == []


def test_ext_qr_prints_the_code_and_writes_a_private_png(company: Pbxctl,
                                                         tmp_path: Path) -> None:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna Petrova")
    png = tmp_path / "anna.png"
    shown = company.ok("ext", "qr", "201", "-o", str(png))
    url = shown.stdout.strip().splitlines()[-1]
    assert url.startswith("/q/") and url.endswith("/linphone.xml")
    assert "\x1b[" in shown.stdout or "█" in shown.stdout or "▀" in shown.stdout
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert stat.S_IMODE(png.stat().st_mode) == 0o600
    assert url.split("/")[2] not in company.ok("audit", "--json").stdout
    assert "until" in shown.stderr


def test_links_start_with_the_provisioning_url(company: Pbxctl) -> None:
    company.env["PBXCTL_PROVISIONING_URL"] = "https://pbx.example.com:8443/prov"
    company.ok("ext", "add", "kazan", "201", "--name", "Anna Petrova")
    link = json.loads(company.ok("ext", "qr", "201", "--json", "--text").stdout)
    assert link["url"].startswith("https://pbx.example.com:8443/prov/q/")
    assert link["url"].endswith("/account.txt")
    company.env["PBXCTL_PROVISIONING_URL"] = "ftp://pbx"
    assert company("device", "list").exit_code != 0
