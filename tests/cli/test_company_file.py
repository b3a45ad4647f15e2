"""The company as a file (issue 14, part 4): export, plan and sync through the CLI, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Pbxctl, pg_database

HOOK = "http://127.0.0.1:9/crm"


@pytest.fixture
def built(company: Pbxctl, tmp_path: Path) -> Pbxctl:
    """A realistic company built through the CLI: two nodes, an edge, three branches
    with hours and holidays (one with a standby node), phones, two carriers, numbers with
    routes, outbound policies with brakes, a queue, a webhook and spend caps."""
    company.env["PBXCTL_WEBHOOK_ALLOW_NETWORKS"] = '["127.0.0.0/8"]'
    west = tmp_path / "west"
    west.mkdir()
    run = company.ok
    run("node", "add", "west", "--ami-host", "127.0.0.2", "--ami-user", "pbxctl",
        "--ami-secret", "west-secret-1", "--config-dir", str(west), "--sip-address",
        "127.0.0.2")
    run("branch", "add", "perm", "--name", "Perm office", "--city", "Perm", "--timezone",
        "Asia/Yekaterinburg", "--ext-range", "400-499", "--node", "west",
        "--standby-node", "local")
    run("edge", "add", "edge1", "--sip-address", "127.0.0.10", "--rpc", "[::1]:5090",
        "--config-dir", str(west))
    run("carrier", "add", "tele2", "--host", "sip.tele2.example", "--auth", "ip",
        "--match", "10.0.0.1/32", "--match", "10.0.1.0/24")
    run("carrier", "add", "sipnet", "--host", "sip.sipnet.example", "--auth", "register",
        "--username", "company7", "--secret", "sipnet-pass-1", "--max-channels", "10",
        "--contract", "SN-2026/7", "--currency", "RUB")
    run("branch", "hours", "kazan", "mon-fri 09:00-18:00", "sat 10:00-14:00")
    run("branch", "hours", "omsk", "mon-fri 08:00-17:00")
    run("branch", "holidays", "kazan", "--add", "2026-12-31", "--name", "New Year's Eve")
    run("branch", "holidays", "omsk", "--add", "2027-01-01", "--add", "2027-01-07")
    run("ext", "add", "kazan", "201", "--name", "Anna Petrova")
    run("ext", "add", "kazan", "202", "--name", "Boris Ivanov", "--department", "sales")
    run("ext", "add", "omsk", "301", "--name", "Иван Сидоров")
    run("ext", "add", "perm", "401", "--name", "Olga")
    run("queue", "add", "kazan", "sales", "--members", "201,202", "--overflow",
        "voicemail:201", "--max-wait", "90")
    run("number", "add", "+78435550101", "--carrier", "tele2", "--branch", "kazan",
        "--monthly-fee", "350", "--route", "queue:kazan/sales", "--after-hours",
        "voicemail:201", "--contract", "T2-1")
    run("number", "add", "+73812550101", "--carrier", "sipnet", "--branch", "omsk",
        "--monthly-fee", "200.50", "--route", "ext:301")
    run("number", "add", "+73422000001", "--carrier", "tele2", "--branch", "perm",
        "--monthly-fee", "100", "--route", "branch:perm")
    run("branch", "outbound", "kazan", "--carriers", "tele2,sipnet", "--dialing", "national:7",
        "--allow", "local,national,mobile", "--caller-id", "+78435550101", "--max-calls", "5",
        "--max-minutes", "national=30,mobile=90s", "--after-hours-allow", "local")
    run("branch", "outbound", "omsk", "--carriers", "sipnet", "--dialing", "national:7",
        "--allow", "local,mobile")
    run("webhook", "add", HOOK, "--events", "call.missed,cdr.rated", "--branch", "kazan")
    run("department", "limit", "sales", "--monthly", "5000", "--warn-at", "70")
    run("department", "limit", "kazan", "--monthly", "12000.50")
    return company


@contextmanager
def empty_like(pbxctl: Pbxctl, tmp_path: Path) -> Iterator[Pbxctl]:
    """A second, freshly initialised database of the same engine, same settings."""
    if pbxctl.database_url.startswith("sqlite"):
        yield _initialised(pbxctl, f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
        return
    with pg_database() as url:
        yield _initialised(pbxctl, url)


def _initialised(pbxctl: Pbxctl, url: str) -> Pbxctl:
    other = Pbxctl(url, dict(pbxctl.env))
    other.ok("init")
    return other


def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump({
        "nodes": {"local": {"ami_secret": "test-secret-1"},
                  "west": {"ami_secret": "west-secret-1"}},
        "carriers": {"sipnet": {"secret": "sipnet-pass-1"}}}))
    path.chmod(0o600)
    return path


def export(pbxctl: Pbxctl, path: Path) -> str:
    pbxctl.ok("export", "-o", str(path))
    assert (path.stat().st_mode & 0o777) == 0o600
    return path.read_text(encoding="utf-8")


def test_export_sync_into_an_empty_database_export_is_byte_identical(
        built: Pbxctl, tmp_path: Path) -> None:
    first = export(built, tmp_path / "company.yaml")
    assert built.ok("export").stdout == first
    data = yaml.safe_load(first)
    assert [b["slug"] for b in data["branches"]] == ["kazan", "omsk", "perm"]
    kazan = data["branches"][0]
    assert kazan["hours"] == {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")
                              } | {"sat": ["10:00-14:00"]}
    assert kazan["outbound"]["max_minutes"] == {"national": "30m", "mobile": "90s"}
    assert kazan["outbound"]["after_hours_allow"] == ["local"]
    assert [b["standby_node"] for b in data["branches"]] == [None, None, "local"]
    assert data["edges"] == [{"name": "edge1", "sip_address": "127.0.0.10", "sip_port": 5060,
                              "rpc": "[::1]:5090", "config_dir": str(tmp_path / "west")}]
    for secret in ("test-secret-1", "west-secret-1", "sipnet-pass-1"):
        assert secret not in first
    assert "password" not in first and "ha1" not in first

    with empty_like(built, tmp_path) as fresh:
        refused = fresh("sync", str(tmp_path / "company.yaml"))
        assert refused.exit_code == 2 and "nodes[local].ami_secret" in refused.stderr
        assert "ami-secret" not in refused.stderr
        synced = fresh.ok("sync", str(tmp_path / "company.yaml"), "--secrets",
                          str(secrets_file(tmp_path)), "--json")
        result = json.loads(synced.stdout)
        assert sorted(p["username"] for p in result["phones"]) == ["201", "202", "301", "401"]
        assert [w["url"] for w in result["webhooks"]] == [HOOK]
        assert result["summary"] == {"create": 19, "update": 0, "remove": 0}
        assert export(fresh, tmp_path / "again.yaml") == first
        audit = json.loads(fresh.ok("audit", "--json").stdout)
        assert audit[-1]["action"] == "company.sync"
        assert {"node.add", "edge.add", "branch.add", "ext.add", "number.add", "branch.outbound",
                "webhook.add", "department.limit"} <= {a["action"] for a in audit}
        for entry in json.dumps(audit), synced.stderr:
            assert "sipnet-pass-1" not in entry and "west-secret-1" not in entry


def edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")


def _moved_added_rehoured(data: dict[str, Any]) -> None:
    perm = next(n for n in data["numbers"] if n["number"] == "+73422000001")
    perm["branch"], perm["route"] = "kazan", "ext:202"
    data["extensions"].append({"number": "203", "branch": "kazan", "name": "New Hire"})
    omsk = next(b for b in data["branches"] if b["slug"] == "omsk")
    omsk["hours"]["mon"] = ["10:00-19:00"]


def test_an_edited_file_plans_exactly_its_changes_and_syncs_them(
        built: Pbxctl, tmp_path: Path) -> None:
    path = tmp_path / "company.yaml"
    export(built, path)
    edit(path, _moved_added_rehoured)

    planned = json.loads(built.ok("plan", str(path), "--json").stdout)
    assert planned["summary"] == {"create": 1, "update": 2, "remove": 0}
    assert [(c["kind"], c["key"], c["action"]) for c in planned["changes"]] == [
        ("branches", "omsk", "update"), ("extensions", "203", "create"),
        ("numbers", "+73422000001", "update")]
    assert planned["changes"][0]["fields"] == [
        {"field": "hours.mon", "old": ["08:00-17:00"], "new": ["10:00-19:00"]}]
    assert planned["changes"][2]["fields"] == [
        {"field": "branch", "old": "perm", "new": "kazan"},
        {"field": "route", "old": "branch:perm", "new": "ext:202"}]
    text = built.ok("plan", str(path)).stdout
    assert '~ numbers[+73422000001]\n    branch: "perm" → "kazan"\n' in text
    assert "Plan: 1 to create, 2 to change, 0 to remove." in text

    synced = built.ok("sync", str(path))
    assert "extension 203: password " in synced.stdout
    audit = json.loads(built.ok("audit", "--json").stdout)
    assert [a["action"] for a in audit[-4:]] == ["branch.hours", "ext.add", "number.update",
                                                 "company.sync"]
    assert built.ok("plan", str(path)).stdout == \
        "No changes: the database matches the file.\n"
    again = json.loads(built.ok("sync", str(path), "--json").stdout)
    assert again["changes"] == [] and again["phones"] == []
    assert json.loads(built.ok("audit", "--json").stdout) == audit


def test_where_voicemail_is_mailed_is_exported_and_changed_in_place(
        built: Pbxctl, tmp_path: Path) -> None:
    path = tmp_path / "company.yaml"
    export(built, path)

    def mail_them(data: dict[str, Any]) -> None:
        assert data["extensions"][0]["email"] is None
        data["extensions"][0]["email"] = "anna@example.com"
        data["extensions"].append({"number": "203", "branch": "kazan", "name": "New Hire",
                                   "email": "new.hire@example.com"})

    edit(path, mail_them)
    first = json.loads(built.ok("ext", "list", "--json").stdout)[0]["number"]
    planned = json.loads(built.ok("plan", str(path), "--json").stdout)
    assert [(c["key"], c["action"]) for c in planned["changes"]] == [
        (first, "update"), ("203", "create")]
    assert planned["changes"][0]["fields"] == [
        {"field": "email", "old": None, "new": "anna@example.com"}]
    built.ok("sync", str(path))
    emails = {e["number"]: e["email"] for e in json.loads(
        built.ok("ext", "list", "--json").stdout)}
    assert (emails[first], emails["203"]) == ("anna@example.com", "new.hire@example.com")
    assert [a["action"] for a in json.loads(built.ok("audit", "--json").stdout)[-3:]] == [
        "ext.email", "ext.add", "company.sync"]
    assert built.ok("plan", str(path)).stdout.startswith("No changes")


def test_a_standby_node_changes_in_place_and_an_edge_goes(built: Pbxctl,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "company.yaml"
    export(built, path)

    def changed(data: dict[str, Any]) -> None:
        data["branches"][0]["standby_node"] = "west"
        data["branches"][0]["language"] = "ru"
        data["branches"][2]["standby_node"] = None
        data["edges"] = []

    edit(path, changed)
    planned = json.loads(built.ok("plan", str(path), "--json").stdout)
    assert [(c["kind"], c["key"], c["action"]) for c in planned["changes"]] == [
        ("edges", "edge1", "remove"), ("branches", "kazan", "update"),
        ("branches", "perm", "update")]
    built.ok("sync", str(path))
    branches = json.loads(built.ok("branch", "list", "--json").stdout)
    assert [b["standby_node"] for b in branches] == ["west", None, None]
    assert [b["language"] for b in branches] == ["ru", "en", "en"]
    assert json.loads(built.ok("edge", "list", "--json").stdout) == []
    assert built.ok("plan", str(path)).stdout == \
        "No changes: the database matches the file.\n"


def test_removals_come_after_the_changes_that_free_them(built: Pbxctl, tmp_path: Path) -> None:
    path = tmp_path / "company.yaml"
    export(built, path)

    def drop_perm(data: dict[str, Any]) -> None:
        data["numbers"] = [n for n in data["numbers"] if n["branch"] != "perm"]
        data["extensions"] = [e for e in data["extensions"] if e["branch"] != "perm"]
        data["branches"] = [b for b in data["branches"] if b["slug"] != "perm"]
        data["nodes"] = [n for n in data["nodes"] if n["name"] != "west"]
        data["departments"] = [d for d in data["departments"] if d["name"] != "sales"]

    edit(path, drop_perm)
    planned = json.loads(built.ok("plan", str(path), "--json").stdout)
    assert planned["summary"] == {"create": 0, "update": 0, "remove": 5}
    built.ok("sync", str(path))
    assert built.ok("plan", str(path)).stdout.startswith("No changes")


def test_a_webhook_with_other_events_is_a_new_webhook(built: Pbxctl, tmp_path: Path) -> None:
    path = tmp_path / "company.yaml"
    export(built, path)
    edit(path, lambda d: d["webhooks"][0].update(events=["call.missed"]))
    planned = json.loads(built.ok("plan", str(path), "--json").stdout)
    assert [(c["key"], c["action"]) for c in planned["changes"]] == [
        (f"{HOOK} @ kazan (call.missed)", "create"),
        (f"{HOOK} @ kazan (call.missed,cdr.rated)", "remove")]
    synced = json.loads(built.ok("sync", str(path), "--json").stdout)
    assert len(synced["webhooks"]) == 1 and len(synced["webhooks"][0]["secret"]) == 64
    assert built.ok("plan", str(path)).stdout.startswith("No changes")


@pytest.mark.parametrize(("where", "change"), [
    ("branches[0]", lambda d: d["branches"][0].update(colour="red")),
    ("(top)", lambda d: d.update(phones=[])),
    ("branches[0].slug", lambda d: d["branches"][0].update(slug="Kazan!")),
    ("extensions[0].name", lambda d: d["extensions"][0].update(name="Anna\nPetrova")),
    ("extensions[0].name", lambda d: d["extensions"][0].update(name="Anna; rm -rf")),
    ("extensions[1].name", lambda d: d["extensions"][1].update(name="Boris [x]")),
    ("carriers[0].contract", lambda d: d["carriers"][0].update(contract="SN\n[evil]")),
    ("numbers[0].number", lambda d: d["numbers"][0].update(number="+7843abc")),
    ("numbers[1].route", lambda d: d["numbers"][1].update(route="ext:301;hangup")),
    ("branches[1].hours.mon[0]", lambda d: d["branches"][1]["hours"].update(mon=["9-18"])),
    ("branches[0].outbound.max_minutes",
     lambda d: d["branches"][0]["outbound"]["max_minutes"].update(national="0")),
    ("extensions[4]", lambda d: d["extensions"].append(dict(d["extensions"][0]))),
    ("extensions[0].email",
     lambda d: d["extensions"][0].update(email="a@example.com\nBcc: all@example.com")),
    ("extensions[1].email", lambda d: d["extensions"][1].update(email="Anna <a@b.com>")),
])
def test_bad_files_are_refused_with_the_place_named(built: Pbxctl, tmp_path: Path,
                                                    where: str, change: Any) -> None:
    path = tmp_path / "company.yaml"
    before = export(built, path)
    edit(path, change)
    for command in ("plan", "sync"):
        result = built(command, str(path))
        assert result.exit_code == 2, (command, result.stdout, result.stderr)
        assert where in result.stderr and "nothing was changed" in result.stderr
    assert export(built, tmp_path / "after.yaml") == before


def test_what_the_services_refuse_is_named_and_rolls_everything_back(
        built: Pbxctl, tmp_path: Path) -> None:
    path = tmp_path / "company.yaml"
    before = export(built, path)

    def broken(data: dict[str, Any]) -> None:
        data["extensions"].append({"number": "204", "branch": "kazan", "name": "Vera"})
        data["numbers"][0]["route"] = "ext:299"      # no such extension

    edit(path, broken)
    result = built("sync", str(path))
    assert result.exit_code == 1 and "numbers[+73422000001].route" in result.stderr
    assert export(built, tmp_path / "after.yaml") == before

    def renamed(data: dict[str, Any]) -> None:
        data["extensions"][0]["name"] = "Anna Smirnova"

    path.write_text(before, encoding="utf-8")
    edit(path, renamed)
    assert "(cannot be changed in place)" in built.ok("plan", str(path)).stdout
    refused = built("sync", str(path))
    assert refused.exit_code == 2
    assert "extensions[201].name: cannot be changed in place" in refused.stderr
    assert export(built, tmp_path / "after.yaml") == before


def test_a_secrets_file_others_may_read_is_refused(built: Pbxctl, tmp_path: Path) -> None:
    path = tmp_path / "company.yaml"
    export(built, path)
    secrets = secrets_file(tmp_path)
    os.chmod(secrets, 0o644)
    result = built("sync", str(path), "--secrets", str(secrets))
    assert result.exit_code == 2 and "chmod 600" in result.stderr
