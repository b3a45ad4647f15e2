"""What it takes to turn one company document into another: pure functions, no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pbxctl.company.document import Document
from pbxctl.company.schema import KINDS, Kind

ACTIONS = {"create": "+", "update": "~", "remove": "-"}
# Fields the services keep as they are when given nothing: sync cannot empty them.
_KEPT_WHEN_EMPTY = {"carriers": ("username", "contract", "max_channels"),
                    "queues": ("overflow",), "branches": ("outbound",)}


@dataclass(frozen=True)
class FieldChange:
    """One field's old and new value (``hours.mon``, ``outbound.carriers``); ``fixed``
    when sync cannot change it in place."""

    field: str
    old: Any
    new: Any
    fixed: bool = False


@dataclass(frozen=True)
class Change:
    """One object created, updated or removed, with the fields that differ; ``old`` and
    ``new`` are the whole object before and after (None when it does not exist)."""

    kind: str
    key: str
    action: str
    fields: tuple[FieldChange, ...]
    old: dict[str, Any] | None
    new: dict[str, Any] | None

    @property
    def fixed_fields(self) -> list[str]:
        """The fields sync cannot change in place."""
        return [f.field for f in self.fields if f.fixed]


def flatten(item: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted fields (``outbound.carriers``); lists stay whole."""
    flat: dict[str, Any] = {}
    for name, value in item.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def _field_changes(kind: Kind, old: dict[str, Any] | None, new: dict[str, Any] | None
                   ) -> tuple[FieldChange, ...]:
    before, after = flatten(old or {}), flatten(new or {})
    fixed = {f.name for f in kind.fields if f.fixed}
    changes = []
    for name in dict.fromkeys([*before, *after]):
        if before.get(name) != after.get(name):
            changes.append(FieldChange(name, before.get(name), after.get(name),
                                       old is not None and new is not None
                                       and name.split(".")[0] in fixed))
    return tuple(changes)


def plan(current: Document, desired: Document) -> list[Change]:
    """Every object to create, update or remove to go from ``current`` to ``desired``,
    kind by kind in file order, each kind's objects by natural key."""
    changes: list[Change] = []
    for kind in KINDS:
        old = {kind.key_of(i): i for i in current.get(kind.name, [])}
        new = {kind.key_of(i): i for i in desired.get(kind.name, [])}
        items = {**old, **new}
        for key in sorted(items, key=lambda k: kind.sort_key(items[k])):
            before, after = old.get(key), new.get(key)
            fields = _field_changes(kind, before, after)
            if not fields:
                continue
            action = "create" if before is None else "remove" if after is None else "update"
            changes.append(Change(kind.name, key, action, fields, before, after))
    return changes


def refusals(changes: list[Change]) -> list[str]:
    """What sync will not do, each as ``kind[key].field: why``: change a field no
    service changes in place, or empty one the services keep when given nothing."""
    refused = [f"{c.kind}[{c.key}].{name}: cannot be changed in place (remove the object "
               "and add it again)" for c in changes for name in c.fixed_fields]
    for change in changes:
        if change.old is None or change.new is None:
            continue
        for name in _KEPT_WHEN_EMPTY.get(change.kind, ()):
            if change.old[name] is not None and change.new[name] is None:
                refused.append(f"{change.kind}[{change.key}].{name}: cannot be emptied")
        old_policy, new_policy = change.old.get("outbound"), change.new.get("outbound")
        if old_policy and new_policy and old_policy["caller_id"] and \
                new_policy["caller_id"] is None:
            refused.append(f"{change.kind}[{change.key}].outbound.caller_id: cannot be "
                           "emptied")
    return refused


def summary(changes: list[Change]) -> dict[str, int]:
    """How many objects each action touches."""
    return {action: sum(1 for c in changes if c.action == action) for action in ACTIONS}


def as_json(changes: list[Change]) -> dict[str, Any]:
    """The plan for machines: every change with its fields, and the counts."""
    return {"changes": [{"kind": c.kind, "key": c.key, "action": c.action,
                         "fields": [{"field": f.field, "old": f.old, "new": f.new,
                                     **({"fixed": True} if f.fixed else {})}
                                    for f in c.fields]} for c in changes],
            "summary": summary(changes), "refused": refusals(changes)}


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def as_text(changes: list[Change]) -> str:
    """The plan for people: ``~ numbers[+78432000001]`` then ``branch: "a" → "b"``."""
    if not changes:
        return "No changes: the database matches the file.\n"
    lines = []
    for change in changes:
        lines.append(f"{ACTIONS[change.action]} {change.kind}[{change.key}]")
        for field in change.fields:
            value = (_shown(field.new) if change.action == "create" else _shown(field.old)
                     if change.action == "remove"
                     else f"{_shown(field.old)} → {_shown(field.new)}")
            note = "  (cannot be changed in place)" if field.fixed else ""
            lines.append(f"    {field.field}: {value}{note}")
    lines += [f"! sync refuses {refused}" for refused in refusals(changes)]
    counts = summary(changes)
    lines.append(f"Plan: {counts['create']} to create, {counts['update']} to change, "
                 f"{counts['remove']} to remove.")
    return "\n".join(lines) + "\n"
