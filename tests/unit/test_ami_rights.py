"""pbxctl's AMI user may run exactly the actions pbxctl sends and read exactly the events
it follows (issue 11, finding 2). The actions are read from the source (ast), so a new
``ami.action("…")`` that the rights table misses fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from pbxctl import names
from pbxctl.ami_events import parse_event
from pbxctl.ami_rights import ACTIONS, FOLLOWED_EVENTS
from pbxctl.follower.events import EVENT_CLASSES, NodeEvents
from pbxctl.render import TemplateSet, render_node
from tests.render.test_golden import company_node

PACKAGE = Path(__file__).resolve().parent.parent.parent / "pbxctl"
SENT_BY_PANORAMISK = {"Login"}   # on connect, with the Events mask
NEVER = {"command", "originate", "config", "call", "dialplan", "all"}


def _module_dicts(tree: ast.Module) -> dict[str, ast.Dict]:
    return {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Dict) for target in node.targets
            if isinstance(target, ast.Name)}


def _action_names(arg: ast.expr, dicts: dict[str, ast.Dict]) -> set[str] | None:
    """The actions an argument of ``.action(…)``/``.send_action(…)`` names, or None when
    the source does not tell."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return {arg.value}
    if isinstance(arg, ast.Dict):  # send_action({"Action": "…", …})
        for key, value in zip(arg.keys, arg.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "Action":
                return _action_names(value, dicts)
        return None
    if (isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name)
            and arg.value.id in dicts):  # MEMBER_ACTIONS[action]
        values = dicts[arg.value.id].values
        if all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in values):
            return {v.value for v in values if isinstance(v, ast.Constant)}
    return None


def sent_actions() -> set[str]:
    """Every AMI action pbxctl's code sends; an argument the source does not tell fails."""
    sent, unknown = set(SENT_BY_PANORAMISK), []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        dicts = _module_dicts(tree)
        wrappers = [f for f in ast.walk(tree)
                    if isinstance(f, ast.AsyncFunctionDef) and f.name == "action"]
        forwarded = {id(n) for f in wrappers for n in ast.walk(f)}  # the clients' own
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("action", "send_action") and node.args
                    and id(node) not in forwarded):
                names = _action_names(node.args[0], dicts)
                if names is None:
                    unknown.append(f"{path.name}:{node.lineno}")
                else:
                    sent |= names
    assert unknown == [], "name the AMI action with a literal (or a module-level dict)"
    return sent


def rendered_rights() -> dict[str, set[str]]:
    text = render_node(company_node(), TemplateSet()).files["manager.conf"]
    lines = dict(line.split(" = ", 1) for line in text.splitlines()
                 if line.startswith(("read = ", "write = ")))
    return {key: set(value.split(",")) for key, value in lines.items()}


def test_the_scan_finds_the_actions_of_every_layer() -> None:
    assert {"Ping", "Logoff", "Reload", "DBPut", "QueueAdd", "QueuePause",
            "CoreShowChannels"} <= sent_actions()


def test_every_action_pbxctl_sends_is_in_the_table_and_nothing_else() -> None:
    assert sent_actions() == set(ACTIONS)


def test_every_action_is_permitted() -> None:
    write = rendered_rights()["write"]
    refused = [name for name, right in ACTIONS.items()
               if right.accepts and not write & set(right.accepts)]
    assert refused == []


def test_every_write_class_is_needed_by_some_action() -> None:
    write = rendered_rights()["write"]
    unneeded = [cls for cls in sorted(write)
                if all(not right.accepts or (write - {cls}) & set(right.accepts)
                       for right in ACTIONS.values())]
    assert unneeded == []
    assert write == {"agent", "reporting", "system"}
    assert not write & NEVER


def test_each_granted_class_is_one_asterisk_accepts() -> None:
    assert [name for name, right in ACTIONS.items()
            if right.grants is not None and right.grants not in right.accepts] == []
    assert [name for name, right in ACTIONS.items()
            if bool(right.accepts) != (right.grants is not None)] == []


def test_read_classes_are_those_of_the_followed_events() -> None:
    handlers = NodeEvents(None, "local").handlers()  # type: ignore[arg-type]
    assert set(handlers) == set(FOLLOWED_EVENTS)
    assert rendered_rights()["read"] == set(FOLLOWED_EVENTS.values()) == {
        "agent", "cdr", "security", "user"}
    assert set(EVENT_CLASSES.split(",")) == rendered_rights()["read"]


def test_every_followed_event_is_one_pbxctl_reads() -> None:
    ignored = [name for name in FOLLOWED_EVENTS
               if parse_event({"Event": name, "UserEvent": names.ASTERISK.user_event}) is None]
    assert ignored == []


def test_manager_conf_lets_through_exactly_the_followed_events() -> None:
    text = render_node(company_node(), TemplateSet()).files["manager.conf"]
    filtered = {line.split("name(", 1)[1].split(")", 1)[0] for line in text.splitlines()
                if line.startswith("eventfilter(action(include),name(")}
    assert filtered == set(FOLLOWED_EVENTS)
    assert "ChallengeSent" not in filtered and "SuccessfulAuth" not in filtered
