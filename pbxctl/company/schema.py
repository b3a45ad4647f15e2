"""The company file's definitions: every kind of object, its fields in file order, their
JSON Schema and defaults. The published schema (``pbxctl export --schema``,
``docs/company.schema.json``) and the loader (:mod:`pbxctl.company.document`) are both
made from these tuples, so they cannot drift apart."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pbxctl import validation as v
from pbxctl.numbering import DEST_CLASSES
from pbxctl.webhooks.events import EVENT_NAMES

FORMAT_VERSION = 1
SCHEMA_ID = "https://pbxctl.example/company.schema.json"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REQUIRED = object()  # a field's default when the file must give it

Json = dict[str, Any]


def _text(regex: str, nullable: bool = False, max_length: int | None = None) -> Json:
    """A string matching ``regex`` as a whole (the loader uses ``re.fullmatch``)."""
    schema: Json = {"type": ["string", "null"] if nullable else "string",
                    "pattern": f"^(?:{regex})$"}
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def _integer(low: int, high: int, nullable: bool = False) -> Json:
    return {"type": ["integer", "null"] if nullable else "integer",
            "minimum": low, "maximum": high}


def _list(items: Json) -> Json:
    return {"type": "array", "items": items}


_SLUG = v.SLUG_RE.pattern
_ADDRESS = r"[0-9A-Fa-f.:]{2,45}"
_DESTINATION = r"hangup|(?:ext|voicemail|queue|branch|external):[A-Za-z0-9+/-]{1,64}"
_AMOUNT = r"[0-9]{1,10}(?:\.[0-9]{1,2})?"
_INTERVAL = r"[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]"
_CLASS = {"enum": list(DEST_CLASSES)}


@dataclass(frozen=True)
class Field:
    """One field of an object: its JSON Schema, its default (:data:`REQUIRED` when the
    file must give it), whether sync can change it in place (``fixed``: no service
    changes it once the object exists) and, for an object value, its own fields."""

    name: str
    schema: Json
    doc: str
    default: Any = REQUIRED
    fixed: bool = False
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Kind:
    """A top-level list of the file: its objects' natural key and fields."""

    name: str
    key: tuple[str, ...]
    doc: str
    fields: tuple[Field, ...]

    def key_of(self, item: Mapping[str, Any]) -> str:
        """The object's natural key as the plan and errors show it (``kazan/sales``)."""
        if self.name == "webhooks":
            where = "" if item["branch"] is None else f" @ {item['branch']}"
            return f"{item['url']}{where} ({','.join(item['events'])})"
        return "/".join(str(item[k]) for k in self.key)

    def sort_key(self, item: Mapping[str, Any]) -> tuple[Any, ...]:
        """How the kind's list is ordered in the file (extensions numerically)."""
        if self.name == "extensions":
            return (int(item["number"]),)
        return tuple(",".join(item[k]) if isinstance(item[k], list)
                     else "" if item[k] is None else str(item[k]) for k in self.key)


OUTBOUND = (
    Field("dialing", _text(r"national:[1-9][0-9]{0,2}"), "How people dial: national:CC."),
    Field("national_prefix", _text(r"[0-9]{1,4}", nullable=True),
          "Trunk prefix for national calls (default: the country's).", None),
    Field("international_prefix", _text(r"[0-9]{1,4}", nullable=True),
          "Prefix for international calls (default: the country's).", None),
    Field("allow", _list(_CLASS), "Destination classes the branch may call."),
    Field("carriers", _list(_text(_SLUG)), "Carriers to try, in order."),
    Field("caller_id", _text(v.E164_RE.pattern, nullable=True),
          "Number presented on outbound calls (a number the company owns).", None),
    Field("allow_foreign_caller_id", {"type": "boolean"},
          "May present another branch's number.", False),
    Field("max_calls", _integer(1, 1000, nullable=True),
          "Concurrent outbound calls (null: no limit).", None),
    Field("max_minutes", {"type": "object", "propertyNames": _CLASS,
                          "additionalProperties": {"type": ["string", "integer"],
                                                   "pattern": r"^(?:[0-9]{1,5}[ms]?)$"}},
          "Longest call per class: minutes (30, 30m) or seconds (90s).", {}),
    Field("after_hours_allow", {"anyOf": [_list(_CLASS), {"type": "null"}]},
          "Classes that still go out after hours (null: all allowed ones).", None),
)
HOLIDAY = (
    Field("day", _text(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), "Closed all day (branch local date)."),
    Field("name", _text(v.DISPLAY_NAME_RE.pattern, nullable=True), "What the day is.", None),
)

KINDS: tuple[Kind, ...] = (
    Kind("nodes", ("name",), "Asterisk servers (never their AMI secret).", (
        Field("name", _text(_SLUG), "The node's name."),
        Field("ami_host", _text(_ADDRESS), "AMI address (an IP literal)."),
        Field("ami_port", _integer(1, 65535), "AMI port.", 5038, fixed=True),
        Field("ami_user", _text(v.AMI_USER_RE.pattern), "AMI user.", fixed=True),
        Field("config_dir", _text(v.PATH_RE.pattern), "Where pbxctl's files go.", fixed=True),
        Field("sip_address", _text(_ADDRESS), "Phones register here.", fixed=True),
        Field("sip_port", _integer(1, 65535), "SIP port.", 5060, fixed=True),
        Field("media_address", _text(_ADDRESS, nullable=True),
              "RTP address (default: sip_address).", None, fixed=True),
        Field("recordings_dir", _text(v.PATH_RE.pattern, nullable=True),
              "Recordings as pbxctl reads them.", None, fixed=True),
        Field("cdr_csv", _text(v.PATH_RE.pattern, nullable=True),
              "The node's Master.csv as pbxctl reads it.", None, fixed=True),
    )),
    Kind("edges", ("name",), "Kamailio SIP edges in front of the nodes.", (
        Field("name", _text(_SLUG), "The edge's name."),
        Field("sip_address", _text(_ADDRESS), "Carriers send SIP here.", fixed=True),
        Field("sip_port", _integer(1, 65535), "SIP port.", 5060, fixed=True),
        Field("rpc", _text(r"[0-9.]{7,15}:[0-9]{1,5}|\[[0-9A-Fa-f:]{2,45}\]:[0-9]{1,5}"),
              "JSON-RPC over HTTP, ADDRESS:PORT ([IPv6]:PORT).", fixed=True),
        Field("config_dir", _text(v.PATH_RE.pattern), "Where pbxctl's files go.", fixed=True),
    )),
    Kind("carriers", ("slug",), "Operators and their trunks (never their secret).", (
        Field("slug", _text(_SLUG), "The carrier's name and PJSIP endpoint."),
        Field("host", _text(v.HOSTNAME_RE.pattern + "|" + _ADDRESS), "Trunk host."),
        Field("port", _integer(1, 65535), "Trunk port.", 5060),
        Field("transport", {"enum": ["udp", "tcp"]}, "SIP transport.", "udp"),
        Field("auth", {"enum": ["ip", "register"]}, "IP-identified or registering."),
        Field("match", _list(_text(r"[0-9A-Fa-f.:/]{2,49}")),
              "Addresses or networks calls come from (auth ip).", []),
        Field("username", _text(v.SIP_USER_RE.pattern, nullable=True),
              "Registration user (auth register).", None),
        Field("number_format", _text(r"e164|plus|national:[1-9][0-9]{0,2}"),
              "How the carrier writes numbers.", "e164"),
        Field("max_channels", _integer(1, 10_000, nullable=True), "Channel limit.", None),
        Field("qualify_seconds", _integer(0, 3600), "OPTIONS ping interval (0: off).", 30),
        Field("currency", _text(v.CURRENCY_RE.pattern), "Currency of its decks.", "RUB"),
        Field("contract", _text(v.CONTRACT_RE.pattern, nullable=True),
              "Contract reference.", None),
        Field("send_names", {"type": "boolean"}, "Send callers' display names.", False),
    )),
    Kind("branches", ("slug",), "Sales sites with hours, holidays and outbound policy.", (
        Field("slug", _text(_SLUG), "The branch's name and default department."),
        Field("name", _text(v.DISPLAY_NAME_RE.pattern), "Display name.", fixed=True),
        Field("city", _text(v.DISPLAY_NAME_RE.pattern), "City.", fixed=True),
        Field("timezone", _text(r"[A-Za-z_]+(?:/[A-Za-z0-9_+-]+){0,2}|UTC"),
              "IANA time zone.", fixed=True),
        Field("language", {"enum": list(v.LANGUAGES)}, "What its phones speak (ISO 639-1).",
              v.DEFAULT_LANGUAGE),
        Field("ext_range", _text(r"[1-9][0-9]{1,5}-[1-9][0-9]{1,5}"),
              "Extension range, e.g. 200-299.", fixed=True),
        Field("node", _text(_SLUG), "Node that serves it.", fixed=True),
        Field("standby_node", _text(_SLUG, nullable=True),
              "Node taking its calls when its own does not answer (null: none).", None),
        Field("hours", {"type": "object", "additionalProperties": False,
                        "properties": {d: _list(_text(_INTERVAL)) for d in WEEKDAYS}},
              "Opening intervals per weekday, e.g. mon: [09:00-18:00] (none: always "
              "open).", {}),
        Field("holidays", _list({"type": "object"}), "Closed days.", [], fields=HOLIDAY),
        Field("outbound", {"type": ["object", "null"]}, "Outbound policy (null: none).",
              None, fields=OUTBOUND),
    )),
    Kind("extensions", ("number",), "Phones (never their password).", (
        Field("number", _text(v.EXTENSION_RE.pattern), "Extension number."),
        Field("branch", _text(_SLUG), "Branch whose range holds it.", fixed=True),
        Field("name", _text(v.DISPLAY_NAME_RE.pattern), "Display name.", fixed=True),
        Field("department", _text(_SLUG, nullable=True),
              "Cost centre (null: the branch).", None, fixed=True),
        Field("email", _text(v.EMAIL_RE.pattern, nullable=True, max_length=v.EMAIL_MAX),
              "Where serve mails each new voicemail message (null: nowhere).", None),
    )),
    Kind("queues", ("branch", "name"), "Branch call queues.", (
        Field("branch", _text(_SLUG), "Branch."),
        Field("name", _text(_SLUG), "Queue name within the branch."),
        Field("strategy", {"enum": ["ringall", "leastrecent", "rrmemory"]},
              "Ring strategy.", "ringall"),
        Field("members", _list(_text(v.EXTENSION_RE.pattern)), "Extensions answering.", []),
        Field("max_wait", _integer(5, 3600), "Longest wait, seconds.", 60),
        Field("service_level", _integer(1, 600), "Answered within, seconds.", 20),
        Field("target", _integer(1, 100), "Percent answered within it.", 90),
        Field("overflow", _text(_DESTINATION, nullable=True), "Where callers go next.", None),
    )),
    Kind("numbers", ("number",), "DIDs with their routes.", (
        Field("number", _text(v.E164_RE.pattern), "The number in E.164."),
        Field("carrier", _text(_SLUG), "Carrier that serves it."),
        Field("branch", _text(_SLUG), "Branch that pays for it."),
        Field("monthly_fee", _text(_AMOUNT), "Monthly fee, e.g. \"350.00\"."),
        Field("contract", _text(v.CONTRACT_RE.pattern, nullable=True), "Contract.", None),
        Field("route", _text(_DESTINATION), "Destination, e.g. queue:kazan/sales."),
        Field("after_hours", _text(_DESTINATION, nullable=True),
              "Destination outside hours.", None),
    )),
    Kind("webhooks", ("url", "branch", "events"),
         "Webhook targets (never their signing secret); a changed one is a new webhook.", (
        Field("url", _text(r"https?://[^\s]{1,2040}"), "Where events are POSTed."),
        Field("branch", _text(_SLUG, nullable=True), "Only this branch's calls.", None),
        Field("events", _list({"enum": list(EVENT_NAMES)}), "Events sent."),
    )),
    Kind("departments", ("name",), "Departments' monthly spend caps.", (
        Field("name", _text(_SLUG), "Department (a branch slug or an extension's)."),
        Field("monthly", _text(_AMOUNT), "Cap on a month's call cost, e.g. \"5000.00\"."),
        Field("warn_at_percent", _integer(1, 100), "Warn at this share of the cap.", 80),
        Field("currency", _text(v.CURRENCY_RE.pattern), "Currency counted.", "RUB"),
    )),
)
KIND = {kind.name: kind for kind in KINDS}


def object_schema(fields: tuple[Field, ...], doc: str, nullable: bool = False) -> Json:
    """The JSON Schema of an object with ``fields``: no other keys, the required ones."""
    return {
        "type": ["object", "null"] if nullable else "object", "description": doc,
        "additionalProperties": False,
        "required": [f.name for f in fields if f.default is REQUIRED],
        "properties": {f.name: _field_schema(f) for f in fields},
    }


def _field_schema(field: Field) -> Json:
    if not field.fields:
        return {**field.schema, "description": field.doc}
    inner = object_schema(field.fields, field.doc, nullable=field.default is None)
    return _list(inner) | {"description": field.doc} \
        if field.schema.get("type") == "array" else inner


def json_schema() -> Json:
    """The whole file's JSON Schema (draft 2020-12)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
        "title": "pbxctl company file",
        "description": "Everything a sysadmin describes, as `pbxctl export` writes it and "
                       "`pbxctl plan` and `pbxctl sync` read it. Never secrets, rate decks "
                       "or call records.",
        "type": "object", "additionalProperties": False, "required": ["version"],
        "properties": {
            "version": {"const": FORMAT_VERSION, "description": "Format of the file."},
            **{kind.name: _list(object_schema(kind.fields, kind.doc)) for kind in KINDS},
        },
    }


def schema_text() -> str:
    """The JSON Schema as published: ``pbxctl export --schema``, ``docs/company.schema.json``."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
