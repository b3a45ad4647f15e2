"""Crisis switch and recording commands refuse bad input and change nothing when the
node cannot be reached (the integration tests cover a real node)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Pbxctl


@pytest.fixture
def phones(company: Pbxctl) -> Pbxctl:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna")
    return company


@pytest.mark.parametrize(("args", "code", "text"), [
    (("crisis", "on", "--to", "ext:201"), 2, "--branch SLUG or --all"),
    (("crisis", "on", "--branch", "kazan", "--all", "--to", "ext:201"), 2, "--all"),
    (("crisis", "on", "--branch", "perm", "--to", "ext:201"), 1, "no branch"),
    (("crisis", "on", "--branch", "kazan", "--to", "ext:299"), 1, "no extension 299"),
    (("crisis", "on", "--branch", "kazan", "--to", "ext:201&PJSIP/x"), 2, "--to"),
    (("crisis", "on", "--branch", "kazan", "--to", "queue:kazan/sales"), 1, "queue"),
    (("record", "on"), 2, "exactly one"),
    (("record", "on", "--number", "+78435550101", "--ext", "201"), 2, "exactly one"),
    (("record", "on", "--number", "+7843x"), 2, "--number"),
    (("record", "on", "--ext", "299"), 1, "no extension"),
    (("record", "off", "--ext", "201"), 1, "not being recorded"),
])
def test_bad_switches_are_refused(phones: Pbxctl, args: tuple[str, ...], code: int,
                                  text: str) -> None:
    result = phones(*args)
    assert result.exit_code == code, result.stderr
    assert text in result.stderr


def test_nothing_is_switched_when_the_node_is_unreachable(phones: Pbxctl) -> None:
    # The test node's AMI secret is refused by (or no Asterisk listens on) 127.0.0.1:5038.
    assert phones("crisis", "on", "--branch", "kazan", "--to", "ext:201").exit_code == 1
    assert phones("record", "on", "--ext", "201").exit_code == 1
    assert json.loads(phones.ok("crisis", "status", "--json").stdout) == []
    assert json.loads(phones.ok("record", "list", "--json").stdout) == []
    actions = [e["action"] for e in json.loads(phones.ok("audit", "--json").stdout)]
    assert "crisis.on" not in actions and "record.on" not in actions


def test_status_reports_an_unreachable_node_instead_of_failing(phones: Pbxctl) -> None:
    result = phones.ok("status", "--json")
    (node,) = json.loads(result.stdout)["nodes"]
    assert node["node"] == "local" and node["connected"] is False and node["error"]
    assert "NOT CONNECTED" in phones.ok("status").stdout
