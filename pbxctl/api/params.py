"""Path and query parameters: how the OpenAPI document shows each one, and the allow-list
check (from :mod:`pbxctl.validation` where one exists) every value passes before a handler
or a service sees it."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pbxctl import validation as v
from pbxctl.billing.periods import parse_month
from pbxctl.errors import ValidationError
from pbxctl.services.audit import parse_since

Check = Callable[[str, str], object]


def schema_pattern(regex: re.Pattern[str]) -> str:
    """A validation regex (used with ``fullmatch``) as an anchored JSON Schema pattern."""
    return f"^(?:{regex.pattern})$"


SLUG = {"type": "string", "pattern": schema_pattern(v.SLUG_RE)}
EXTENSION = {"type": "string", "pattern": schema_pattern(v.EXTENSION_RE)}
E164 = {"type": "string", "pattern": schema_pattern(v.E164_RE)}
QUEUE_REF = {"type": "string", "pattern": f"^(?:{v.SLUG_RE.pattern})/(?:{v.SLUG_RE.pattern})$"}


@dataclass(frozen=True)
class Param:
    """One path or query parameter."""

    description: str
    schema: dict[str, Any]
    check: Check
    required: bool = False

    def document(self, name: str, where: str) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        return {"name": name, "in": where, "description": self.description,
                "required": where == "path" or self.required, "schema": self.schema}


def choice(values: Sequence[str]) -> Check:
    """A check that allows exactly ``values``."""
    def check(field: str, value: str) -> None:
        if value not in values:
            raise ValidationError(field, f"{value!r} is not allowed; use one of "
                                         f"{', '.join(values)}")
    return check


def enum(description: str, values: Sequence[str]) -> Param:
    """A parameter taking one of a few fixed words."""
    return Param(description, {"type": "string", "enum": list(values)}, choice(values))


def sort_param(fields: Sequence[str]) -> Param:
    """``sort=FIELD`` or ``sort=-FIELD`` over an allow-list of fields."""
    values = [f"{sign}{name}" for name in fields for sign in ("", "-")]
    return enum(f"Sort by {', '.join(fields)}; a leading '-' sorts descending.", values)


def _webhook_id(field: str, value: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,9}", value) or int(value) > v.MAX_ROW_ID:
        raise ValidationError(field, f"{value!r} is not a webhook id (a number from 1 to "
                                     f"{v.MAX_ROW_ID})")
    return int(value)


def _queue_ref(field: str, value: str) -> str:
    branch, _, name = value.partition("/")
    v.slug(field, branch)
    v.slug(field, name)
    return value


def slug(description: str) -> Param:
    """A slug (branch, node, carrier, queue name, department)."""
    return Param(description, SLUG, v.slug)


EXTENSION_PARAM = Param("Extension number, e.g. 201", EXTENSION, v.extension_number)
E164_PARAM = Param("Number in E.164, e.g. +78435550101", E164, v.e164)
CITY = Param("City, exactly as stored", {"type": "string", "maxLength": 64}, v.display_name)
MONTH = Param("Month, e.g. 2026-10",
              {"type": "string", "pattern": "^20[0-9]{2}-(0[1-9]|1[0-2])$"},
              parse_month, required=True)
OPTIONAL_MONTH = Param("Month, e.g. 2026-11 [default: the current one, in each "
                       "department's zone]", MONTH.schema, parse_month)
QUEUE = Param("A queue, e.g. kazan/sales", QUEUE_REF, _queue_ref)
SINCE = Param("Only entries from this ISO date or time on (UTC when it names no zone), "
              "e.g. 2026-11-01 or 2026-11-01T09:00+03:00",
              {"type": "string", "maxLength": 40}, parse_since)
BOOLEAN = ("true", "false")

PATH_PARAMS: dict[str, Param] = {
    "node": slug("Node name"),
    "branch": slug("Branch slug"),
    "carrier": slug("Carrier slug"),
    "queue": slug("Queue name inside its branch"),
    "department": slug("Department (an extension's department, else its branch)"),
    "extension": EXTENSION_PARAM,
    "e164": E164_PARAM,
    "device": Param("A device's MAC or name, e.g. 80:5E:C0:12:34:56 or 201-app",
                    {"type": "string", "pattern": "^(?:[0-9A-Fa-f]{2}[:.-]?){5}[0-9A-Fa-f]{2}$"
                                                  f"|^{v.DEVICE_NAME_RE.pattern}$"},
                    v.device),
    "action": enum("What to do with the member", ("login", "logout", "pause", "unpause")),
    "id": Param("Webhook id", {"type": "string", "pattern": "^[1-9][0-9]{0,9}$"},
                _webhook_id),
}
