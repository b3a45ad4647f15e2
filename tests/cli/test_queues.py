"""Queues through the CLI: settings, validation, routing numbers to them."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Pbxctl


@pytest.fixture
def staffed(company: Pbxctl) -> Pbxctl:
    for number in ("201", "202"):
        company.ok("ext", "add", "kazan", number, "--name", f"Agent {number}")
    company.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip", "--match",
               "127.0.0.2")
    return company


def test_queue_lifecycle(staffed: Pbxctl, config_dir) -> None:  # noqa: ANN001
    staffed.ok("queue", "add", "kazan", "sales", "--members", "201,202", "--strategy",
               "rrmemory", "--max-wait", "45", "--overflow", "voicemail:201")
    shown = json.loads(staffed.ok("queue", "show", "kazan/sales").stdout)
    assert shown == {"queue": "kazan/sales", "strategy": "rrmemory", "members": ["201", "202"],
                     "max_wait": 45, "service_level": 20, "target": 90,
                     "overflow": "voicemail:201"}
    staffed.ok("number", "add", "+78435550101", "--carrier", "tele2", "--branch", "kazan",
               "--monthly-fee", "1.00", "--route", "queue:kazan/sales")
    staffed.ok("apply", "--offline")
    assert "[q-kazan-sales]" in (config_dir / "queues.conf").read_text()
    assert "Queue(q-kazan-sales,,,,45)" in (config_dir / "extensions.conf").read_text()
    staffed.ok("queue", "update", "kazan/sales", "--service-level", "15", "--target", "95")
    assert json.loads(staffed.ok("queue", "list", "--json").stdout)[0]["target"] == 95
    assert staffed("queue", "remove", "kazan/sales").exit_code == 1   # a number routes there
    assert staffed("ext", "remove", "202").exit_code == 1              # it answers the queue
    staffed.ok("number", "route", "+78435550101", "ext:201")
    staffed.ok("queue", "remove", "kazan/sales")
    assert json.loads(staffed.ok("queue", "list", "--json").stdout) == []


@pytest.mark.parametrize(("args", "code", "text"), [
    (("kazan", "sales", "--members", "201,299"), 1, "no extension 299"),
    (("kazan", "sales", "--members", "201;202"), 2, "--members"),
    (("kazan", "sales", "--members", "201", "--strategy", "random"), 2, "--strategy"),
    (("kazan", "sales", "--members", "201", "--max-wait", "1"), 2, "--max-wait"),
    (("kazan", "sales", "--members", "201", "--target", "101"), 2, "--target"),
    (("kazan", "sales", "--members", "201", "--overflow", "queue:kazan/sales"), 1, "no queue"),
    (("kazan", "general", "--members", "201"), 2, "reserved"),
    (("perm", "sales", "--members", "201"), 1, "no branch"),
])
def test_bad_queues_are_refused(staffed: Pbxctl, args: tuple[str, ...], code: int,
                                text: str) -> None:
    result = staffed("queue", "add", *args)
    assert result.exit_code == code, result.stderr
    assert text in result.stderr
    assert json.loads(staffed.ok("queue", "list", "--json").stdout) == []


def test_members_need_a_reachable_node(staffed: Pbxctl) -> None:
    staffed.ok("queue", "add", "kazan", "sales", "--members", "201")
    assert staffed("queue", "login", "202").exit_code == 2          # which queue?
    assert staffed("queue", "pause", "202").exit_code == 1          # in no queue
    assert staffed("queue", "pause", "201").exit_code == 1          # node refuses/unreachable
    actions = [e["action"] for e in json.loads(staffed.ok("audit", "--json").stdout)]
    assert "queue.pause" not in actions


def test_a_queue_name_too_long_for_asterisk_is_refused(staffed: Pbxctl) -> None:
    """The dashes of the branch's slug are doubled in the queue's Asterisk name."""
    branch = "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p"
    staffed.ok("branch", "add", branch, "--name", "Dashes", "--city", "Kazan",
               "--timezone", "Europe/Moscow", "--ext-range", "500-599")
    result = staffed("queue", "add", branch, "q" * 32)
    assert result.exit_code == 2, result.stderr
    assert "longer than 79 characters" in result.stderr
    staffed.ok("queue", "add", branch, "q" * 30)
    assert [q["queue"] for q in json.loads(staffed.ok("queue", "list", "--json").stdout)] == [
        f"{branch}/{'q' * 30}"]
