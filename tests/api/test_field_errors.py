"""What the services refuse reaches an API client in its own words: the JSON field, never
a command-line flag (``members: no extension 299``, not ``--members: …``), and nothing
changes. The CLI says the same with its flags."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.conftest import Pbxctl

WEST = {"name": "west", "ami_host": "127.0.0.6", "ami_user": "pbxctl",
        "ami_secret": "secret-789"}
# (method, path, body, status, field) — each a value the services check, not the schema.
REFUSED = [
    ("POST", "/api/v1/queues", {"branch": "kazan", "name": "vip", "members": ["299"]},
     404, "members"),
    ("PATCH", "/api/v1/queues/kazan/sales", {"members": ["201", "2999"]}, 404, "members"),
    ("PATCH", "/api/v1/queues/kazan/sales", {"overflow": "queue:kazan/sales"}, 400,
     "overflow"),
    ("PATCH", "/api/v1/queues/kazan/sales", {"max_wait": 1}, 400, "max_wait"),
    ("PUT", "/api/v1/branches/kazan/outbound", {"carriers": ["nosuch"]}, 404, "carriers"),
    ("PUT", "/api/v1/branches/kazan/outbound", {"carriers": ["tele2", "tele2"]}, 400,
     "carriers"),
    ("PUT", "/api/v1/branches/kazan/outbound", {"allow": ["moon"]}, 400, "allow"),
    ("PUT", "/api/v1/branches/kazan/outbound", {"caller_id": "+73812550101"}, 400,
     "caller_id"),
    ("PUT", "/api/v1/branches/kazan/outbound", {"max_calls": 0}, 400, "max_calls"),
    ("PUT", "/api/v1/branches/kazan/outbound", {"max_calls": 5000}, 400, "max_calls"),
    ("PUT", "/api/v1/branches/kazan/outbound", {"max_minutes": {"premium": 0}}, 400,
     "max_minutes"),
    ("PUT", "/api/v1/branches/kazan/outbound", {"max_minutes": {"mobile": "2h"}}, 400,
     "max_minutes"),
    ("PUT", "/api/v1/branches/kazan/outbound", {"max_minutes": {"emergency": 30}}, 400,
     "max_minutes"),
    ("PUT", "/api/v1/branches/kazan/outbound", {"after_hours_allow": ["emergency"]}, 400,
     "after_hours_allow"),
    ("POST", "/api/v1/branches", {"slug": "tver", "name": "Tver", "city": "Tver",
                                  "timezone": "Asia/Yekaterinburg", "ext_range": "250-260"},
     409, "ext_range"),
    ("POST", "/api/v1/branches", {"slug": "tver", "name": "Tver", "city": "Tver",
                                  "timezone": "Mars/Olympus", "ext_range": "700-799"},
     400, "timezone"),
    ("POST", "/api/v1/branches", {"slug": "tver", "name": "Tver", "city": "Tver",
                                  "timezone": "Asia/Omsk", "ext_range": "700-799",
                                  "language": "klingon"}, 400, "language"),
    ("POST", "/api/v1/carriers", {"slug": "rt", "host": "sip.rt.example", "auth": "ip"},
     400, "match"),
    ("POST", "/api/v1/carriers", {"slug": "rt", "host": "sip.rt.example",
                                  "auth": "register"}, 400, "username/secret"),
    ("POST", "/api/v1/numbers", {"e164": "+78435550199", "carrier": "tele2",
                                 "branch": "kazan", "monthly_fee": "-1",
                                 "route": "ext:201"}, 400, "monthly_fee"),
    ("POST", "/api/v1/numbers", {"e164": "+78435550199", "carrier": "tele2",
                                 "branch": "kazan", "monthly_fee": "1.00",
                                 "route": "ext:299"}, 404, "route"),
    ("POST", "/api/v1/webhooks", {"url": "ftp://crm.example.com/", "events":
                                  ["call.ringing"]}, 400, "url"),
    ("POST", "/api/v1/nodes", {**WEST, "ami_host": "pbx.example", "config_dir": "/etc/asterisk"},
     400, "ami_host"),
    *(("POST", "/api/v1/nodes", {**WEST, "config_dir": outside}, 400, "config_dir")
      for outside in ("/etc/cron.d", "/srv/../etc", "srv/west")),
    ("POST", "/api/v1/webhooks", {"url": "http://[::ffff:169.254.169.254]/", "events":
                                  ["call.ringing"]}, 400, "url"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), REFUSED,
                         ids=[f"{r[0]} {r[1]} {r[4]}" for r in REFUSED])
async def test_a_refused_value_names_its_json_field(api: Api, method: str, path: str,
                                                    body: dict[str, Any], status: int,
                                                    field: str) -> None:
    before = await api.db_state()
    answered, data = await api.call(method, path, "admin", body)
    message = data["error"]["message"]
    assert answered == status, data
    assert message.startswith(f"{field}: ") and "--" not in message, message
    assert await api.db_state() == before


async def test_the_api_sets_the_brakes_as_the_cli_does(api: Api) -> None:
    path = "/api/v1/branches/kazan/outbound"
    answered, data = await api.call("PUT", path, "admin", {
        "max_calls": 4, "max_minutes": {"international": 30, "mobile": "90s"},
        "after_hours_allow": ["local", "national"]})
    assert answered == 200, data
    assert (data["max_calls"], data["max_minutes"], data["after_hours_allow"]) == (
        4, {"international": "30m", "mobile": "90s"}, ["local", "national"])
    answered, data = await api.call("PUT", path, "admin", {
        "max_calls": "none", "max_minutes": {}, "after_hours_allow": ["all"]})
    assert answered == 200, data
    assert (data["max_calls"], data["max_minutes"], data["after_hours_allow"]) == (
        None, {}, None)
    answered, data = await api.call("PUT", path, "admin", {"max_calls": True})
    assert answered == 400 and data["error"]["message"].startswith("max_calls: "), data


def test_the_cli_names_the_same_fields_by_its_flags(company: Pbxctl) -> None:
    company.ok("ext", "add", "kazan", "201", "--name", "Anna")
    refused = company("queue", "add", "kazan", "vip", "--members", "201,299")
    assert refused.exit_code == 1 and "--members: no extension 299" in refused.stderr
    refused = company("carrier", "add", "rt", "--host", "sip.rt.example", "--auth",
                      "register")
    assert refused.exit_code == 2
    assert ("--username/--secret: a registering carrier needs --username and --secret"
            in refused.stderr)
    refused = company("branch", "add", "perm", "--name", "Perm", "--city", "Perm",
                      "--timezone", "Asia/Yekaterinburg", "--ext-range", "250-260")
    assert refused.exit_code == 1 and "--ext-range: 250-260 overlaps branch 'kazan'" in \
        refused.stderr


SERVICE_CODE = ("services", "validation.py", "numbering.py", "destinations.py", "billing",
                "names.py", "ami_events.py")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants of a module, its classes and its functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                      | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_no_service_writes_a_command_line_flag() -> None:
    """Whatever field a service refuses, no ``--flag`` can reach an API client: no text
    the services write (docstrings aside) spells one."""
    package = Path(__file__).resolve().parent.parent.parent / "pbxctl"
    flags = []
    for part in SERVICE_CODE:
        paths = [package / part] if part.endswith(".py") else sorted(
            (package / part).rglob("*.py"))
        for path in paths:
            tree = ast.parse(path.read_text())
            skip = _docstrings(tree)
            flags += [f"{path.name}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
                      if isinstance(node, ast.Constant) and isinstance(node.value, str)
                      and id(node) not in skip and re.search(r"--[a-z]", node.value)]
    assert flags == []
