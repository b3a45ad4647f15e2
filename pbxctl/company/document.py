"""Reading and writing the company file: YAML (safe_load, safe_dump only), checked
against the schema of :mod:`pbxctl.company.schema` and brought to one canonical form, so
that the same company always gives the same bytes and a plan compares like with like."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError as SchemaError

from pbxctl.company.schema import KINDS, REQUIRED, WEEKDAYS, Field, Json, json_schema
from pbxctl.destinations import parse_destination
from pbxctl.errors import ValidationError
from pbxctl.numbering import DEST_CLASSES, duration_limits, duration_text, parse_dialing

Document = dict[str, Any]
HEADER = ("# pbxctl company file: `pbxctl plan FILE` shows what `pbxctl sync FILE` would "
          "change.\n# Its JSON Schema: `pbxctl export --schema`. No secrets, rate decks or "
          "call records.\n")
MAX_ERRORS = 20
_SECRETS_SCHEMA: Json = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "nodes": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False, "required": ["ami_secret"],
            "properties": {"ami_secret": {"type": "string"}}}},
        "carriers": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False, "required": ["secret"],
            "properties": {"secret": {"type": "string"}}}},
    },
}


def _fullmatch(validator: Any, pattern: str, instance: Any, schema: Json
               ) -> Iterator[SchemaError]:
    """``pattern`` as pbxctl's allow-lists read it: the whole string (a trailing newline
    too), not a search."""
    if validator.is_type(instance, "string") and not re.fullmatch(pattern, instance):
        yield SchemaError(f"{instance!r} is not allowed here (must match {pattern})")


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator, {"pattern": _fullmatch})


def path_text(path: Sequence[str | int]) -> str:
    """Where in the file: ``branches[2].hours.mon``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top)"


def _check(data: Any, schema: Json) -> None:
    errors = sorted(_Validator(schema).iter_errors(data),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    lines = [f"{path_text(list(e.absolute_path))}: {e.message}" for e in errors[:MAX_ERRORS]]
    if len(errors) == 1:
        raise ValidationError(path_text(list(errors[0].absolute_path)), errors[0].message)
    raise ValidationError("file", f"{len(errors)} problems: " + "; ".join(lines))


def _parse_yaml(text: str) -> Any:
    try:
        return _plain(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise ValidationError("file", f"not YAML: {exc}") from None


def _plain(value: Any) -> Any:
    """Dates a person wrote unquoted (``day: 2026-12-31``) as the strings the schema wants."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(item) for k, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def load(text: str) -> Document:
    """The company file's text, checked against the schema and normalised; a refusal
    names the place in the file (``branches[2].hours.mon: …``)."""
    data = _parse_yaml(text)
    _check(data, json_schema())
    return normalise(data)


def load_secrets(text: str) -> dict[str, dict[str, str]]:
    """A secrets file: ``nodes: {NAME: {ami_secret: …}}``, ``carriers: {SLUG: {secret:
    …}}``; as ``{"nodes": {NAME: secret}, "carriers": {SLUG: secret}}``."""
    data = _parse_yaml(text) or {}
    _check(data, _SECRETS_SCHEMA)
    return {"nodes": {k: s["ami_secret"] for k, s in (data.get("nodes") or {}).items()},
            "carriers": {k: s["secret"] for k, s in (data.get("carriers") or {}).items()}}


def dump(document: Document) -> str:
    """The file's text: the schema's key order, lists in their natural order."""
    body = str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True,
                          default_flow_style=False, width=4096))
    return HEADER + body


def normalise(data: Mapping[str, Any]) -> Document:
    """Defaults filled in, values in canonical form, keys in schema order, lists sorted
    by natural key; a key given twice is refused."""
    document: Document = {"version": data["version"]}
    for kind in KINDS:
        items = []
        for index, item in enumerate(data.get(kind.name) or []):
            where = f"{kind.name}[{index}]"
            try:
                items.append(_canonical(kind.name, _filled(kind.fields, item)))
            except ValidationError as exc:
                raise ValidationError(f"{where}.{exc.field}", exc.message) from None
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            key = kind.key_of(item)
            if key in seen:
                raise ValidationError(f"{kind.name}[{index}]",
                                      f"{key} is also {kind.name}[{seen[key]}]")
            seen[key] = index
        document[kind.name] = sorted(items, key=kind.sort_key)
    return document


def _filled(fields: tuple[Field, ...], given: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in fields:
        value = given.get(field.name, None if field.default is REQUIRED else field.default)
        if field.fields and isinstance(value, list):
            value = [_filled(field.fields, item) for item in value]
        elif field.fields and value is not None:
            value = _filled(field.fields, value)
        out[field.name] = value
    return out


def _canonical(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """One object's values as export writes them."""
    if kind == "nodes" and item["media_address"] is None:
        item["media_address"] = item["sip_address"]
    elif kind == "branches":
        item["hours"] = {day: sorted(item["hours"][day]) for day in WEEKDAYS
                         if item["hours"].get(day)}
        item["holidays"] = sorted(item["holidays"], key=lambda h: str(h["day"]))
        if item["outbound"] is not None:
            item["outbound"] = _outbound(item["outbound"])
    elif kind == "queues" and item["overflow"] is not None:
        item["overflow"] = str(parse_destination("overflow", item["overflow"]))
    elif kind == "numbers":
        item["monthly_fee"] = f"{Decimal(item['monthly_fee']):.2f}"
        for field in ("route", "after_hours"):
            if item[field] is not None:
                item[field] = str(parse_destination(field, item[field]))
    elif kind == "webhooks":
        item["events"] = sorted(set(item["events"]))
    elif kind == "departments":
        item["monthly"] = f"{Decimal(item['monthly']):.2f}"
    return item


def _outbound(policy: dict[str, Any]) -> dict[str, Any]:
    try:
        rules = parse_dialing("dialing", policy["dialing"], policy["national_prefix"],
                              policy["international_prefix"])
        limits = duration_limits("max_minutes", tuple(policy["max_minutes"].items()))
    except ValidationError as exc:
        raise ValidationError(f"outbound.{exc.field}", exc.message) from None
    policy["national_prefix"] = rules.national_prefix
    policy["international_prefix"] = rules.international_prefix
    policy["max_minutes"] = {c: duration_text(limits[c]) for c in DEST_CLASSES if c in limits}
    return policy
