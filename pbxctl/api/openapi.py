"""ROUTES: every API operation in one table — path, method, the roles allowed, its query
parameters (filters and the sort allow-list) and JSON body (JSON Schema). The table drives
the router, the role check, request validation and the OpenAPI 3.1 document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pbxctl.api.params import (
    BOOLEAN,
    CITY,
    E164,
    EXTENSION,
    EXTENSION_PARAM,
    MONTH,
    OPTIONAL_MONTH,
    PATH_PARAMS,
    QUEUE,
    QUEUE_REF,
    SINCE,
    SLUG,
    Param,
    enum,
    slug,
    sort_param,
)
from pbxctl.render.provisioning import MODELS
from pbxctl.validation import DEFAULT_LANGUAGE, LANGUAGES
from pbxctl.webhooks.events import EVENT_NAMES

ALL = ("admin", "accountant", "viewer")
READ = ("admin", "viewer")
ADMIN = ("admin",)

_TEXT = {"type": "string", "maxLength": 64}
_EMAIL = {"type": "string", "maxLength": 254, "format": "email"}
_DEST = {"type": "string", "maxLength": 120,
         "description": "ext:201, branch:kazan, queue:kazan/sales, voicemail:201, "
                        "external:+46701234567 or hangup"}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_PATH = {"type": "string", "maxLength": 4096, "description": "An absolute path"}
_BOOL = {"type": "boolean"}


@dataclass(frozen=True)
class Operation:
    """One method on one path."""

    method: str
    path: str
    roles: tuple[str, ...]
    summary: str
    query: dict[str, Param] = field(default_factory=dict)
    sortable: tuple[str, ...] = ()
    body: dict[str, dict[str, Any]] | None = None   # property -> JSON Schema
    required: tuple[str, ...] = ()
    created: bool = False          # answers 201
    asterisk: bool = False         # talks to Asterisk at once (502 when it refuses)

    @property
    def path_params(self) -> dict[str, Param]:
        """The path's ``{name}`` parameters."""
        return {part[1:-1]: PATH_PARAMS[part[1:-1]] for part in self.path.split("/")
                if part.startswith("{")}

    @property
    def query_params(self) -> dict[str, Param]:
        """The allowed query parameters: filters, and ``sort`` when the listing sorts."""
        return self.query | ({"sort": sort_param(self.sortable)} if self.sortable else {})

    @property
    def body_schema(self) -> dict[str, Any] | None:
        """The JSON body: an object with known properties only."""
        if self.body is None:
            return None
        return {"type": "object", "properties": self.body, "required": list(self.required),
                "additionalProperties": False}


def _op(method: str, path: str, roles: tuple[str, ...], summary: str,
        **kwargs: Any) -> Operation:
    return Operation(method, "/api/v1" + path, roles, summary, **kwargs)


_SECRET = {"type": "string", "maxLength": 128, "writeOnly": True}
_NODE_FIELDS = {
    "name": SLUG, "ami_host": {"type": "string", "maxLength": 45, "description":
                               "An IP literal (0.0.0.0 or :: for every address)"},
    "ami_port": _PORT,
    "ami_user": {"type": "string", "maxLength": 32}, "ami_secret": _SECRET,
    "config_dir": _PATH, "sip_address": {"type": "string", "maxLength": 45}, "sip_port": _PORT,
    "media_address": {"type": "string", "maxLength": 45}, "recordings_dir": _PATH,
    "cdr_csv": _PATH}
_CARRIER_FIELDS = {
    "host": {"type": "string", "maxLength": 253}, "port": _PORT,
    "transport": {"type": "string", "enum": ["udp", "tcp", "tls"]},
    "auth": {"type": "string", "enum": ["ip", "register"]},
    "match": {"type": "array", "items": {"type": "string", "maxLength": 64}},
    "username": {"type": "string", "maxLength": 64}, "secret": _SECRET,
    "number_format": {"type": "string", "maxLength": 16,
                      "description": "e164, plus or national:CC"},
    "max_channels": {"type": "integer", "minimum": 1},
    "qualify_seconds": {"type": "integer", "minimum": 0},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}, "contract": _TEXT,
    "send_names": {**_BOOL, "description": "Show callers' display names to the carrier "
                                           "(default false)"}}
_QUEUE_FIELDS = {
    "strategy": {"type": "string", "enum": ["ringall", "leastrecent", "rrmemory"]},
    "members": {"type": "array", "items": EXTENSION, "minItems": 1},
    "max_wait": {"type": "integer", "minimum": 5, "maximum": 3600},
    "service_level": {"type": "integer", "minimum": 1, "maximum": 600},
    "target": {"type": "integer", "minimum": 1, "maximum": 100}, "overflow": _DEST}
_OUTBOUND_FIELDS = {
    "carriers": {"type": "array", "items": SLUG, "description": "Tried in this order"},
    "caller_id": E164,
    "allow": {"type": "array", "items": {"type": "string", "maxLength": 20},
              "description": "Destination classes: local, national, mobile, ..."},
    "dialing": {"type": "string", "pattern": "^national:[0-9]{1,3}$"},
    "national_prefix": {"type": "string", "maxLength": 4},
    "international_prefix": {"type": "string", "maxLength": 4},
    "allow_foreign_caller_id": _BOOL,
    "max_calls": {"oneOf": [{"type": "integer"}, {"const": "none"}],
                  "description": "Concurrent outbound calls (1-1000); \"none\" removes the "
                                 "limit. Emergency calls are never limited"},
    "max_minutes": {"type": "object", "additionalProperties": {
        "oneOf": [{"type": "integer"}, {"type": "string", "maxLength": 8}]},
        "description": "Longest call per class, replacing the whole set ({} for none): "
                       "minutes (30 or \"30m\") or seconds (\"90s\"), e.g. "
                       "{\"international\": 30}. Emergency calls are never cut"},
    "after_hours_allow": {"type": "array", "items": {"type": "string", "maxLength": 20},
                          "description": "Classes that still go out when the branch is "
                                         "closed; [\"all\"] removes the rule, [] leaves "
                                         "emergency calls only"}}

_LIMIT_FIELDS = {
    "monthly": {"type": "string", "pattern": "^[0-9]{1,10}(\\.[0-9]{1,2})?$",
                "description": "The cap, e.g. \"5000.00\" (a string: money is exact)"},
    "warn_at": {"type": "integer", "minimum": 1, "maximum": 100,
                "description": "Percent of the cap that warns (default 80)"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "default RUB"}}

ROUTES: tuple[Operation, ...] = (
    _op("GET", "/nodes", READ, "Nodes (never their AMI secrets)", sortable=("name",)),
    _op("POST", "/nodes", ADMIN, "Add a node", body=_NODE_FIELDS, created=True,
        required=("name", "ami_host", "ami_user", "ami_secret", "config_dir")),
    _op("GET", "/nodes/{node}", READ, "One node"),
    _op("DELETE", "/nodes/{node}", ADMIN, "Remove a node that serves no branch"),

    _op("GET", "/branches", READ, "Branches", sortable=("slug", "city", "timezone"),
        query={"node": slug("Only branches on this node"), "city": CITY}),
    _op("POST", "/branches", ADMIN, "Add a branch", created=True, body={
        "slug": SLUG, "name": _TEXT, "city": _TEXT, "timezone": _TEXT,
        "ext_range": {"type": "string", "pattern": "^[0-9]{2,6}-[0-9]{2,6}$"}, "node": SLUG,
        "standby_node": SLUG, "language": {"type": "string", "enum": list(LANGUAGES),
                                           "description": f"default {DEFAULT_LANGUAGE}"}},
        required=("slug", "name", "city", "timezone", "ext_range")),
    _op("GET", "/branches/{branch}", READ,
        "One branch with its extensions, outbound policy, hours and holidays"),
    _op("PATCH", "/branches/{branch}", ADMIN,
        "Change the branch's standby node (null: none) or its phones' language", body={
            "standby_node": {**SLUG, "type": ["string", "null"]},
            "language": {"type": "string", "enum": list(LANGUAGES)}}),
    _op("DELETE", "/branches/{branch}", ADMIN, "Remove a branch", query={
        "with_extensions": enum("Remove its extensions too", BOOLEAN)}),
    _op("PUT", "/branches/{branch}/outbound", ADMIN,
        "Set the branch's outbound policy (fields not given stay)", body=_OUTBOUND_FIELDS),

    _op("GET", "/extensions", READ, "Extensions (never their secrets)",
        sortable=("number", "name", "branch", "department"),
        query={"branch": slug("Only this branch's extensions")}),
    _op("POST", "/extensions", ADMIN, "Add an extension; the answer holds its SIP password, "
        "shown this once", created=True, body={
            "branch": SLUG, "number": EXTENSION, "name": _TEXT, "department": SLUG,
            "email": _EMAIL},
        required=("branch", "number", "name")),
    _op("DELETE", "/extensions/{extension}", ADMIN, "Remove an extension"),
    _op("POST", "/extensions/{extension}/password", ADMIN,
        "Rotate the SIP password; the new one is shown this once"),
    _op("PUT", "/extensions/{extension}/voicemail-pin", ADMIN,
        "Set the mailbox's PIN (asked for at *97): the one given, else a generated one, "
        "shown this once", body={"pin": {"type": "string", "pattern": "^[0-9]{4,10}$",
                                         "writeOnly": True}}),
    _op("DELETE", "/extensions/{extension}/voicemail-pin", ADMIN,
        "Remove the mailbox's PIN: it then opens from the extension's own phones only"),
    _op("PUT", "/extensions/{extension}/email", ADMIN,
        "Mail each new voicemail message to this address, the recording attached (sent by "
        "serve)", body={"email": _EMAIL}, required=("email",)),
    _op("DELETE", "/extensions/{extension}/email", ADMIN,
        "Mail the extension's voicemail to nobody"),

    _op("GET", "/devices", READ, "Devices (never their secrets)",
        sortable=("name", "extension", "model"),
        query={"extension": EXTENSION_PARAM}),
    _op("POST", "/devices", ADMIN, "Add a desk phone; the answer holds its provisioning URL, "
        "shown this once", created=True, body={
            "extension": EXTENSION, "mac": {"type": "string", "maxLength": 17},
            "model": {"type": "string", "enum": list(MODELS)}},
        required=("extension", "mac", "model")),
    _op("DELETE", "/devices/{device}", ADMIN, "Remove a device"),
    _op("POST", "/extensions/{extension}/softphone-link", ADMIN,
        "A one-time link that sets up the extension's softphone (Linphone XML; account.txt "
        "in its place for the plain account), shown this once",
        body={"minutes": {"type": "integer", "minimum": 1, "maximum": 10080}}),

    _op("GET", "/carriers", READ, "Carriers (never their secrets)",
        sortable=("slug", "host", "auth")),
    _op("POST", "/carriers", ADMIN, "Add a carrier", created=True,
        body={"slug": SLUG, **_CARRIER_FIELDS}, required=("slug", "host", "auth")),
    _op("GET", "/carriers/{carrier}", READ, "One carrier (never its secret)"),
    _op("PATCH", "/carriers/{carrier}", ADMIN, "Change some of a carrier's fields",
        body=_CARRIER_FIELDS),
    _op("DELETE", "/carriers/{carrier}", ADMIN, "Remove a carrier that serves no number"),

    _op("GET", "/numbers", READ, "The number inventory",
        sortable=("number", "carrier", "branch"),
        query={"carrier": slug("Only this carrier's numbers"),
               "branch": slug("Only the numbers this branch pays for")}),
    _op("POST", "/numbers", ADMIN, "Add a number rented from a carrier", created=True, body={
        "e164": E164, "carrier": SLUG, "branch": SLUG,
        "monthly_fee": {"type": "string", "pattern": "^[0-9]{1,9}(\\.[0-9]{1,2})?$"},
        "route": _DEST, "after_hours": _DEST, "contract": _TEXT},
        required=("e164", "carrier", "branch", "monthly_fee", "route")),
    _op("GET", "/numbers/{e164}", READ, "One number with its history"),
    _op("PUT", "/numbers/{e164}/route", ADMIN,
        "Route a number (after_hours: null clears the after-hours route)",
        body={"route": _DEST, "after_hours": {**_DEST, "type": ["string", "null"]}},
        required=("route",)),
    _op("POST", "/numbers/{e164}/move", ADMIN, "Serve the number through another carrier "
        "or charge it to another branch; its route stays",
        body={"carrier": SLUG, "branch": SLUG}),
    _op("DELETE", "/numbers/{e164}", ADMIN, "Release a number (its history stays)"),

    _op("GET", "/routes", READ, "Where every number's calls go (inbound) and how each "
        "branch calls out (outbound)", query={"branch": slug("Only this branch")}),

    _op("GET", "/queues", READ, "Queues", sortable=("queue", "strategy", "max_wait"),
        query={"branch": slug("Only this branch's queues")}),
    _op("POST", "/queues", ADMIN, "Add a queue", created=True,
        body={"branch": SLUG, "name": SLUG, **_QUEUE_FIELDS},
        required=("branch", "name", "members")),
    _op("GET", "/queues/{branch}/{queue}", READ, "One queue"),
    _op("PATCH", "/queues/{branch}/{queue}", ADMIN, "Change some of a queue's settings",
        body=_QUEUE_FIELDS),
    _op("DELETE", "/queues/{branch}/{queue}", ADMIN, "Remove a queue no number routes to"),
    _op("POST", "/agents/{extension}/{action}", ADMIN, "Log a phone in to or out of a queue, "
        "pause or unpause it, at once over AMI (on the branch's node, then its standby: "
        "what a standby that is down missed is listed in standby_missed); without a queue, "
        "logout and (un)pause act in every queue the phone is in", body={"queue": QUEUE_REF},
        asterisk=True),

    _op("GET", "/webhooks", ADMIN, "Webhooks and their deliveries (no secrets)"),
    _op("POST", "/webhooks", ADMIN, "Add a webhook; the answer holds its signing secret, "
        "shown this once", created=True, body={
            "url": {"type": "string", "maxLength": 2048},
            "events": {"type": "array", "items": {"type": "string", "enum": list(EVENT_NAMES)},
                       "minItems": 1},
            "branch": SLUG}, required=("url", "events")),
    _op("DELETE", "/webhooks/{id}", ADMIN, "Remove a webhook"),

    _op("POST", "/apply", ADMIN, "Render, diff, write, reload and verify every node and "
        "edge (or the node or edge named); dry_run only shows the diff, offline only writes "
        "the files. A failed node or edge is rolled back, audited and answered with 502 and "
        "every outcome", body={"node": SLUG, "edge": SLUG, "dry_run": _BOOL,
                               "offline": _BOOL}, asterisk=True),
    _op("GET", "/status", READ, "Live state of every node (or one): AMI link, carriers, "
        "phones, calls, queues, crisis switches", query={"node": slug("Only this node")}),
    _op("GET", "/reports/costs", ALL, "Monthly costs per department", query={
        "month": MONTH, "department": slug("Only this department"),
        "detail": enum("One row per rated call instead of totals", BOOLEAN),
        "format": enum("json (default), csv, excel (CSV with ';' and decimal comma) or "
                       "xlsx", ("json", "csv", "excel", "xlsx"))}),
    _op("GET", "/reports/sla", ALL, "Service level per queue (or per queue and day)", query={
        "month": MONTH, "queue": QUEUE,
        "by": enum("One row per queue (default) or per queue and day", ("queue", "day")),
        "format": enum("json (default) or csv", ("json", "csv"))}),
    _op("GET", "/reports/spend", ALL, "Month-to-date spend per department, its cap and what "
        "the spend brake did (ok, warning, blocked, unblocked)", query={
            "month": OPTIONAL_MONTH, "format": enum("json (default) or csv", ("json", "csv"))}),
    _op("GET", "/departments/limits", ALL, "Every department's monthly spend cap"),
    _op("PUT", "/departments/{department}/limit", ADMIN, "Cap the department's monthly "
        "spend (serve warns at warn_at percent and blocks outbound calls at the cap)",
        body=_LIMIT_FIELDS, required=("monthly",)),
    _op("DELETE", "/departments/{department}/limit", ADMIN, "Remove the cap (a block in "
        "force is lifted at once)", asterisk=True),
    _op("POST", "/departments/{department}/unblock", ADMIN, "Lift the spend brake's block "
        "at once, for the rest of the month or until a day starts in the department's zone",
        body={"until": {"type": "string", "format": "date"}}, asterisk=True),
    _op("GET", "/export", ADMIN, "The company file: everything a sysadmin describes, "
        "never secrets, rate decks or calls; format yaml is the file 'pbxctl export' "
        "writes, byte for byte", query={
            "format": enum("json (default) or yaml", ("json", "yaml"))}),
    _op("GET", "/audit", ADMIN, "The audit trail, oldest first", query={
        "since": SINCE, "object_type": slug("Only entries about this kind of object "
                                            "(node, branch, extension, number, ...)")}),
)
ROUTE_BY_KEY = {(o.method, o.path): o for o in ROUTES}
PUBLIC = ("/", "/healthz", "/metrics", "/api/v1/openapi.json")


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}


def _success(op: Operation) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
    if op.path.startswith("/api/v1/reports/"):
        content["text/csv"] = {"schema": {"type": "string"}}
    if op.path == "/api/v1/export":
        content["application/yaml"] = {"schema": {"type": "string"}}
    if op.path == "/api/v1/reports/costs":
        content["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"] = {
            "schema": {"type": "string", "contentEncoding": "binary"}}
    return {"201" if op.created else "200": {
        "description": "Created" if op.created else "OK", "content": content}}


def _operation_document(op: Operation) -> dict[str, Any]:
    responses = _success(op) | {
        "400": _error_response("Invalid input, unknown parameter or field (nothing changed)"),
        "401": _error_response("Missing or unknown token"),
        "403": _error_response("The token's role may not do this"),
        "429": _error_response("Too many failed token attempts from this address "
                               "(see Retry-After)"),
        "500": _error_response("Unexpected failure; the message holds a reference to "
                               "the server's log")}
    if op.body is not None:
        responses["415"] = _error_response("The body is not sent as application/json")
    if op.path_params or op.body is not None:
        responses["404"] = _error_response("No such object")
    if op.method != "GET":
        responses["409"] = _error_response("Conflicts with what exists")
    if op.asterisk:
        responses["502"] = _error_response("Asterisk refused or could not be reached")
    document: dict[str, Any] = {
        "operationId": f"{op.method.lower()}{op.path.removeprefix('/api/v1')}"
                       .replace("/", "_").replace("{", "").replace("}", ""),
        "summary": op.summary, "description": f"Roles: {', '.join(op.roles)}.",
        "security": [{"bearer": []}],
        "parameters": [p.document(n, "path") for n, p in op.path_params.items()]
                      + [p.document(n, "query") for n, p in op.query_params.items()],
        "responses": responses,
    }
    if op.body_schema is not None:
        document["requestBody"] = {"required": bool(op.required), "content": {
            "application/json": {"schema": op.body_schema}}}
    return document


def _public(summary: str, media: str) -> dict[str, Any]:
    return {"get": {"operationId": summary.split()[0].lower(), "summary": summary,
                    "security": [], "responses": {"200": {
                        "description": "OK", "content": {media: {"schema": {}}}}}}}


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 for every route, with who may call it."""
    paths: dict[str, Any] = {
        "/": _public("Page: the accountants' cost page", "text/html"),
        "/healthz": _public("Healthz: alive, and the database answers", "application/json"),
        "/metrics": _public("Metrics in Prometheus text format", "text/plain"),
        "/api/v1/openapi.json": _public("Openapi: this document", "application/json"),
    }
    for op in ROUTES:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation_document(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "pbxctl", "version": "1",
                 "description": "Controls a hosted Asterisk PBX. Listings take sort=FIELD "
                                "or sort=-FIELD and filters from a per-route allow-list; "
                                "anything else is refused with 400."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "object", "required": ["id", "message"], "properties": {
                    "id": {"type": "string"}, "message": {"type": "string"}}}}}},
        },
    }
