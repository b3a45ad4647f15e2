"""Hostile values in the main commands' integer, date and text arguments, and in the
files they import: each is a usage error (exit 2) or a refusal (exit 1) with a message,
never a traceback (the runner lets any exception through), and nothing changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pbxctl.db.session import sqlite_file
from tests.conftest import Pbxctl

HUGE = "99999999999999999999"
BIG_FIELD = "A" * (128 * 1024 + 1)

REFUSED = [
    (("webhook", "remove", HUGE), "WEBHOOK_ID"),
    (("webhook", "remove", "0"), "WEBHOOK_ID"),
    (("webhook", "remove", "-1"), "WEBHOOK_ID"),
    (("webhook", "remove", str(2**31)), "WEBHOOK_ID"),
    (("webhook", "attempts", HUGE), "MESSAGE_ID"),
    (("webhook", "retry", HUGE), "WEBHOOK_ID"),
    (("webhook", "deliveries", "--webhook", HUGE), "--webhook"),
    (("audit", "--since", "0001-01-01T00:00+23:59"), "--since"),
    (("audit", "--since", "9999-12-31T23:59-23:59"), "--since"),
    (("audit", "--since", "2026-13-01"), "--since"),
    (("recordings", "list", "--since", "0001-01-01T00:00+23:59"), "--since"),
    (("report", "costs", "--month", "99999-01"), "--month"),
    (("report", "costs", "--month", "0000-00"), "--month"),
    (("cdr", "rerate", "--month", "2026-1\x00"), "--month"),
    (("rates", "import", "tele2", "/dev/null", "--valid-from", "99999-01-01"),
     "--valid-from"),
    (("status", "--watch", "nan"), "--watch"),
    (("status", "--watch", "0"), "--watch"),
    (("serve", "--port", HUGE), "--port"),
    (("queue", "add", "kazan", "vip", "--members", "201", "--max-wait", HUGE),
     "--max-wait"),
    (("carrier", "add", "rt", "--host", "127.0.0.9", "--auth", "ip", "--match",
      "127.0.0.9", "--max-channels", HUGE), "--max-channels"),
    (("carrier", "add", "rt", "--host", "127.0.0.9", "--auth", "ip", "--match",
      "127.0.0.9", "--qualify", "-" + HUGE), "--qualify"),
    (("node", "add", "east", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl",
      "--ami-secret", "secret-123", "--config-dir", "/tmp", "--ami-port", HUGE),
     "--ami-port"),
    (("ext", "add", "kazan", "202", "--name", BIG_FIELD), "--name"),
    (("ext", "add", "kazan", HUGE, "--name", "Boris"), "number: "),
    (("number", "add", "+7" + HUGE, "--carrier", "tele2", "--branch", "kazan",
      "--monthly-fee", "1", "--route", "ext:201"), "number: "),
    (("number", "add", "+78435550199", "--carrier", "tele2", "--branch", "kazan",
      "--monthly-fee", "1" + "0" * 40, "--route", "ext:201"), "--monthly-fee"),
]


@pytest.fixture
def shop(company: Pbxctl) -> Pbxctl:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna")
    company.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip", "--match",
               "127.0.0.2")
    return company


def _state(pbxctl: Pbxctl) -> list[str]:
    return [pbxctl.ok(*args).stdout for args in (
        ("ext", "list", "--json"), ("carrier", "list", "--json"), ("node", "list", "--json"),
        ("queue", "list", "--json"), ("number", "list", "--json"),
        ("numplan", "list", "--json"), ("rates", "list", "--json"))]


@pytest.mark.parametrize(("args", "names"), REFUSED, ids=[" ".join(a)[:60] for a, _ in REFUSED])
def test_hostile_arguments_are_refused_with_a_message(shop: Pbxctl, args: tuple[str, ...],
                                                      names: str) -> None:
    before = _state(shop)
    result = shop(*args)
    assert result.exit_code in (1, 2), (result.exit_code, result.stderr)
    assert names in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert _state(shop) == before


@pytest.mark.parametrize(("command", "header", "row"), [
    (("rates", "import", "tele2", "--valid-from", "2026-01-01"),
     "prefix,destination,rate_per_minute,connect_fee,min_seconds,increment_seconds",
     f"7,{BIG_FIELD},1.0,0,0,60"),
    (("numplan", "import"), "prefix,class,description", f"7999,mobile,{BIG_FIELD}"),
    (("number", "import"), "number,carrier,branch,monthly_fee,route",
     f"+78435550199,tele2,kazan,1.00,{BIG_FIELD}"),
])
def test_a_field_over_128_kib_in_an_import_is_refused_by_line(
        shop: Pbxctl, tmp_path: Path, command: tuple[str, ...], header: str, row: str) -> None:
    before = _state(shop)
    upload = tmp_path / "upload.csv"
    upload.write_text(f"{header}\n{row}\n")
    result = shop(*command[:2], *command[2:3], str(upload), *command[3:])
    assert result.exit_code == 2, result.stderr
    assert "file: line 2: field larger than field limit" in result.stderr
    assert _state(shop) == before


def test_an_id_in_range_that_does_not_exist_is_a_refusal(shop: Pbxctl) -> None:
    result = shop("webhook", "remove", str(2**31 - 1))
    assert result.exit_code == 1 and "no webhook" in result.stderr
    assert json.loads(shop.ok("webhook", "list", "--json").stdout) == []


def test_a_config_dir_must_stay_inside_an_allowed_root(shop: Pbxctl, tmp_path: Path) -> None:
    before = _state(shop)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / "escape").symlink_to(outside)
    node = ("node", "add", "east", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl",
            "--ami-secret", "secret-123", "--config-dir")
    for config_dir in (str(outside), str(tmp_path / "escape"), str(tmp_path / "escape/x"),
                       "/etc/cron.d"):
        refused = shop(*node, config_dir)
        assert refused.exit_code == 2, (config_dir, refused.stderr)
        assert "--config-dir: " in refused.stderr and "node_config_roots" in refused.stderr
    assert _state(shop) == before
    east = tmp_path / "east"
    east.mkdir()
    (tmp_path / "inside").symlink_to(east)
    shop.ok(*node, str(tmp_path / "inside"))
    stored = {n["name"]: n for n in json.loads(shop.ok("node", "list", "--json").stdout)}
    assert stored["east"]["config_dir"] == str(east.resolve())   # the real path is kept
    (tmp_path / "inside").unlink()                    # the link given now leads out
    (tmp_path / "inside").symlink_to(outside)
    shop.ok("apply", "--node", "east", "--offline")
    assert list(outside.iterdir()) == [] and list(east.iterdir())
    shutil.rmtree(east)                               # the stored path itself leads out
    east.symlink_to(outside)
    refused = shop("apply", "--node", "east", "--offline")
    assert refused.exit_code == 2 and "config_dir: " in refused.stderr, refused.stderr
    assert list(outside.iterdir()) == []
    shop.ok("apply", "--node", "local", "--offline")


def test_cdr_csv_and_recordings_dir_stay_inside_and_off_pbxctl_s_own_files(
        shop: Pbxctl, tmp_path: Path) -> None:
    key_file = tmp_path / "secure" / "secrets.key"
    shop.env["PBXCTL_SECRETS_KEY_FILE"] = str(key_file)
    before = _state(shop)
    node = ("node", "add", "east", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl",
            "--ami-secret", "secret-123", "--config-dir", str(tmp_path))
    own = [str(key_file)]
    database = sqlite_file(shop.database_url)
    if database is not None:
        own += [str(database), f"{database}-wal"]
    key_file.parent.mkdir()
    (key_file.parent / "link.csv").symlink_to(key_file)
    for option, value, why in (
            *(("--cdr-csv", path, "own database or secrets key") for path in own),
            ("--cdr-csv", str(key_file.parent / "link.csv"), "own database or secrets key"),
            ("--cdr-csv", "/etc/shadow", "node_config_roots"),
            ("--recordings-dir", "/root", "node_config_roots")):
        refused = shop(*node, option, value)
        assert refused.exit_code == 2, (option, value, refused.stderr)
        assert f"{option}: " in refused.stderr and why in refused.stderr, refused.stderr
    assert _state(shop) == before
    shop.ok(*node, "--cdr-csv", str(tmp_path / "log/Master.csv"),
            "--recordings-dir", str(tmp_path / "monitor"))
