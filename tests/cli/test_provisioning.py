"""Nodes, branches and extensions through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import Pbxctl


def test_branch_and_extension_lifecycle(company: Pbxctl) -> None:
    added = company.ok("ext", "add", "kazan", "201", "--name", "Anna Petrova", "--json")
    creds = json.loads(added.stdout)
    assert creds["username"] == "201"
    assert len(creds["password"]) >= 20
    assert creds["server"] == "127.0.0.1" and creds["port"] == 5060

    company.ok("ext", "add", "omsk", "301", "--name", "Иван Сидоров", "--department", "sales")
    listed = json.loads(company.ok("ext", "list", "--json").stdout)
    assert listed == [
        {"number": "201", "branch": "kazan", "name": "Anna Petrova", "department": "kazan",
         "voicemail_pin": False, "email": None},
        {"number": "301", "branch": "omsk", "name": "Иван Сидоров", "department": "sales",
         "voicemail_pin": False, "email": None},
    ]
    only_omsk = json.loads(company.ok("ext", "list", "--branch", "omsk", "--json").stdout)
    assert [e["number"] for e in only_omsk] == ["301"]

    shown = json.loads(company.ok("branch", "show", "kazan", "--json").stdout)
    assert shown["timezone"] == "Europe/Moscow" and shown["ext_range"] == "200-299"
    assert [e["number"] for e in shown["extensions"]] == ["201"]

    table = company.ok("branch", "list").stdout
    assert "kazan" in table and "Kazan salon" in table and "EXT_RANGE" in table


def test_password_is_shown_once_and_never_stored(company: Pbxctl) -> None:
    first = json.loads(company.ok("ext", "add", "kazan", "202", "--name", "Boris",
                                  "--json").stdout)
    rotated = json.loads(company.ok("ext", "passwd", "202", "--json").stdout)
    assert rotated["password"] != first["password"]
    audit = company.ok("audit", "--json").stdout
    for secret in (first["password"], rotated["password"]):
        assert secret not in audit
        assert secret not in company.ok("ext", "list", "--json").stdout


def test_a_voicemail_pin_is_generated_or_chosen_shown_once_and_never_guessable(
        company: Pbxctl, tmp_path: Path) -> None:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna Petrova")
    generated = json.loads(company.ok("ext", "voicemail", "201", "--json").stdout)["pin"]
    assert re.fullmatch(r"[0-9]{6}", generated)
    assert json.loads(company.ok("ext", "list", "--json").stdout)[0]["voicemail_pin"] is True
    rendered = company.ok("apply", "--dry-run").stdout
    assert "+201 => ********,Anna Petrova" in rendered and generated not in rendered

    before = company.ok("audit", "--json").stdout
    for weak in ("1111", "1234", "98765", "0123", "201", "2010", "102", "12ab", "12345678901"):
        pin_file = tmp_path / "pin"
        pin_file.write_text(weak + "\n")
        refused = company("ext", "voicemail", "201", "--pin-file", str(pin_file))
        assert refused.exit_code == 2 and "--pin" in refused.stderr, (weak, refused.stderr)
    assert company.ok("audit", "--json").stdout == before

    chosen = tmp_path / "chosen"
    chosen.write_text("480913\n")
    company.ok("ext", "voicemail", "201", "--pin-file", str(chosen))
    company.ok("ext", "voicemail", "201", "--no-pin")
    assert json.loads(company.ok("ext", "list", "--json").stdout)[0]["voicemail_pin"] is False
    audit = company.ok("audit", "--json").stdout
    assert generated not in audit and "480913" not in audit
    details = [e["detail"] for e in json.loads(audit) if e["action"] == "ext.voicemail-pin"]
    assert details == ["voicemail PIN generated", "voicemail PIN set", "voicemail PIN removed"]
    both = company("ext", "voicemail", "201", "--no-pin", "--pin-file", str(chosen))
    assert both.exit_code == 2


def test_voicemail_is_mailed_to_an_address_set_changed_and_removed_audited(
        company: Pbxctl) -> None:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna", "--email", "anna@example.com")
    assert json.loads(company.ok("ext", "list", "--json").stdout)[0]["email"] \
        == "anna@example.com"
    rendered = company.ok("apply", "--dry-run").stdout   # Asterisk never mails: pbxctl does
    assert "+201 => ,Anna\n" in rendered and "example" not in rendered
    company.ok("ext", "update", "201", "--email", "a.petrova+vm@sales.example.ru")
    company.ok("ext", "update", "201", "--no-email")
    assert json.loads(company.ok("ext", "list", "--json").stdout)[0]["email"] is None
    changes = [(e["before"]["email"], e["after"]["email"])
               for e in json.loads(company.ok("audit", "--json").stdout)
               if e["action"] == "ext.email"]
    assert changes == [("anna@example.com", "a.petrova+vm@sales.example.ru"),
                       ("a.petrova+vm@sales.example.ru", None)]


def test_an_address_that_could_inject_a_header_or_a_field_is_refused(
        company: Pbxctl) -> None:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna")
    before = company.ok("audit", "--json").stdout
    for bad in ("anna@example.com\r\nBcc: all@example.com", "anna@example.com,b@example.com",
                "Anna <anna@example.com>", "anna@example.com|x", "anna", "@example.com",
                "anna@localhost", "a b@example.com", f"{'a' * 65}@example.com",
                f"anna@{'a' * 250}.com", "anna@exa_mple.com", "анна@example.com"):
        refused = company("ext", "update", "201", "--email", bad)
        assert refused.exit_code == 2 and "--email:" in refused.stderr, (bad, refused.stderr)
        added = company("ext", "add", "kazan", "202", "--name", "Boris", "--email", bad)
        assert added.exit_code == 2 and "--email:" in added.stderr, (bad, added.stderr)
    assert company.ok("audit", "--json").stdout == before
    assert len(json.loads(company.ok("ext", "list", "--json").stdout)) == 1
    neither = company("ext", "update", "201")
    both = company("ext", "update", "201", "--email", "a@example.com", "--no-email")
    assert neither.exit_code == both.exit_code == 2
    missing = company("ext", "update", "299", "--email", "a@example.com")
    assert missing.exit_code == 1 and "no extension 299" in missing.stderr


def test_extension_outside_range_or_taken_is_refused(company: Pbxctl) -> None:
    outside = company("ext", "add", "kazan", "301", "--name", "Wrong Branch")
    assert outside.exit_code == 2
    assert "outside branch 'kazan'" in outside.stderr and "nothing was changed" in outside.stderr
    company.ok("ext", "add", "kazan", "201", "--name", "Anna")
    taken = company("ext", "add", "kazan", "201", "--name", "Anna Again")
    assert taken.exit_code == 1 and "already exists" in taken.stderr
    assert len(json.loads(company.ok("ext", "list", "--json").stdout)) == 1


def test_overlapping_branch_ranges_are_refused(company: Pbxctl) -> None:
    result = company("branch", "add", "perm", "--name", "Perm", "--city", "Perm",
                     "--timezone", "Asia/Yekaterinburg", "--ext-range", "250-349")
    assert result.exit_code == 1
    assert "overlaps branch 'kazan'" in result.stderr


def test_branch_with_extensions_is_removed_only_when_asked(company: Pbxctl) -> None:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna")
    refused = company("branch", "remove", "kazan")
    assert refused.exit_code == 1 and "201" in refused.stderr
    company.ok("branch", "remove", "kazan", "--with-extensions")
    assert json.loads(company.ok("ext", "list", "--json").stdout) == []
    slugs = [b["slug"] for b in json.loads(company.ok("branch", "list", "--json").stdout)]
    assert slugs == ["omsk"]


def test_node_serving_branches_cannot_be_removed(company: Pbxctl) -> None:
    result = company("node", "remove", "local")
    assert result.exit_code == 1 and "still serves 2 branch" in result.stderr
    nodes = json.loads(company.ok("node", "list", "--json").stdout)
    assert [n["name"] for n in nodes] == ["local"]
    assert "ami_secret" not in nodes[0]


def test_audit_records_who_changed_what(company: Pbxctl) -> None:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna")
    company.ok("ext", "remove", "201")
    entries = json.loads(company.ok("audit", "--json").stdout)
    actions = [(e["action"], e["object_key"]) for e in entries]
    assert actions == [("node.add", "local"), ("branch.add", "kazan"), ("branch.add", "omsk"),
                       ("ext.add", "201"), ("ext.remove", "201")]
    assert {e["actor"] for e in entries} == {"tester"}
    assert {e["interface"] for e in entries} == {"cli"}
    removal = entries[-1]
    assert removal["before"]["name"] == "Anna" and removal["after"] is None
    future = company.ok("audit", "--since", "2999-01-01", "--json")
    assert json.loads(future.stdout) == []
    bad = company("audit", "--since", "yesterday")
    assert bad.exit_code == 2


def test_unknown_objects_give_runtime_errors(company: Pbxctl) -> None:
    for args in (("branch", "show", "perm"), ("ext", "remove", "299"),
                 ("ext", "add", "perm", "201", "--name", "X"), ("node", "show", "other")):
        result = company(*args)
        assert result.exit_code == 1, args
        assert "no " in result.stderr


def test_commands_refuse_an_uninitialised_database(database_url: str) -> None:
    runner = Pbxctl(database_url, {})
    result = runner("branch", "list")
    assert result.exit_code == 1
    assert "pbxctl init" in result.stderr
