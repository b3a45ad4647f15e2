"""Every API operation in one table: who may call it, what it accepts (query parameters
and JSON body, as JSON Schema) — the source of both request validation and the OpenAPI
3.1 document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL = ("admin", "accountant", "viewer")
READ = ("admin", "viewer")
ADMIN = ("admin",)

_SLUG = {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,31}$"}
_EXT = {"type": "string", "pattern": "^[0-9]{2,6}$"}
_E164 = {"type": "string", "pattern": "^\\+[1-9][0-9]{6,14}$"}
_TEXT = {"type": "string", "maxLength": 200}
_DEST = {"type": "string", "maxLength": 120,
         "description": "ext:201, branch:kazan, queue:kazan/sales, voicemail:201, "
                        "external:+46701234567 or hangup"}
_MONTH = {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_BOOL = {"type": "boolean"}


@dataclass(frozen=True)
class Operation:
    """One method on one path."""

    method: str
    path: str
    roles: tuple[str, ...]
    summary: str
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    body: dict[str, dict[str, Any]] | None = None   # property -> schema
    required: tuple[str, ...] = ()
    sortable: tuple[str, ...] = ()

    @property
    def query_schema(self) -> dict[str, Any]:
        """The allowed query parameters (with ``sort`` when the listing sorts)."""
        params = dict(self.query)
        if self.sortable:
            params["sort"] = {"type": "string", "enum": [
                f"{sign}{name}" for name in self.sortable for sign in ("", "-")]}
        return {"type": "object", "properties": params, "additionalProperties": False}

    @property
    def body_schema(self) -> dict[str, Any] | None:
        """The JSON body this operation takes: an object with known properties only."""
        if self.body is None:
            return None
        return {"type": "object", "properties": self.body, "required": list(self.required),
                "additionalProperties": False}


def _op(method: str, path: str, roles: tuple[str, ...], summary: str,
        **kwargs: Any) -> Operation:
    return Operation(method, "/api/v1" + path, roles, summary, **kwargs)


_CARRIER_FIELDS = {
    "host": {"type": "string", "maxLength": 253}, "port": _PORT,
    "transport": {"type": "string", "enum": ["udp", "tcp", "tls"]},
    "auth": {"type": "string", "enum": ["ip", "register"]},
    "match": {"type": "array", "items": {"type": "string", "maxLength": 64}},
    "username": {"type": "string", "maxLength": 64},
    "secret": {"type": "string", "maxLength": 128, "writeOnly": True},
    "number_format": {"type": "string", "maxLength": 16},
    "max_channels": {"type": "integer", "minimum": 1},
    "qualify_seconds": {"type": "integer", "minimum": 0},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}, "contract": _TEXT}
_QUEUE_FIELDS = {
    "strategy": {"type": "string", "enum": ["ringall", "leastrecent", "rrmemory"]},
    "members": {"type": "array", "items": _EXT},
    "max_wait": {"type": "integer"}, "service_level": {"type": "integer"},
    "target": {"type": "integer"}, "overflow": _DEST}

OPERATIONS: tuple[Operation, ...] = (
    _op("GET", "/nodes", READ, "Nodes (no AMI secrets)", sortable=("name",)),
    _op("POST", "/nodes", ADMIN, "Add a node", body={
        "name": _SLUG, "ami_host": {"type": "string", "maxLength": 253}, "ami_port": _PORT,
        "ami_user": _SLUG, "ami_secret": {"type": "string", "maxLength": 128,
                                          "writeOnly": True},
        "config_dir": {"type": "string", "maxLength": 4096},
        "sip_address": {"type": "string", "maxLength": 45}, "sip_port": _PORT,
        "media_address": {"type": "string", "maxLength": 45},
        "recordings_dir": {"type": "string", "maxLength": 4096},
        "cdr_csv": {"type": "string", "maxLength": 4096}},
        required=("name", "ami_host", "ami_user", "ami_secret", "config_dir")),
    _op("GET", "/nodes/{name}", READ, "One node"),
    _op("DELETE", "/nodes/{name}", ADMIN, "Remove a node that serves no branch"),

    _op("GET", "/branches", READ, "Branches", sortable=("slug", "city", "timezone"),
        query={"node": _SLUG, "city": _TEXT}),
    _op("POST", "/branches", ADMIN, "Add a branch", body={
        "slug": _SLUG, "name": _TEXT, "city": _TEXT, "timezone": {"type": "string",
                                                                  "maxLength": 64},
        "ext_range": {"type": "string", "pattern": "^[0-9]{2,6}-[0-9]{2,6}$"},
        "node": _SLUG}, required=("slug", "name", "city", "timezone", "ext_range")),
    _op("GET", "/branches/{slug}", READ, "One branch with its outbound policy"),
    _op("DELETE", "/branches/{slug}", ADMIN, "Remove a branch",
        query={"with_extensions": {"type": "string", "enum": ["true", "false"]}}),
    _op("PUT", "/branches/{slug}/outbound", ADMIN, "Set the branch's outbound policy", body={
        "carriers": {"type": "array", "items": _SLUG}, "caller_id": _E164,
        "allow": {"type": "array", "items": {"type": "string", "maxLength": 20}},
        "dialing": {"type": "string", "pattern": "^national:[0-9]{1,3}$"},
        "national_prefix": {"type": "string", "maxLength": 4},
        "international_prefix": {"type": "string", "maxLength": 4},
        "allow_foreign_caller_id": _BOOL}),

    _op("GET", "/extensions", READ, "Extensions (no secrets)",
        sortable=("number", "name", "branch"), query={"branch": _SLUG}),
    _op("POST", "/extensions", ADMIN, "Add an extension; the answer holds its SIP password, "
        "shown this once", body={"branch": _SLUG, "number": _EXT, "name": _TEXT,
                                 "department": _SLUG}, required=("branch", "number", "name")),
    _op("DELETE", "/extensions/{number}", ADMIN, "Remove an extension"),
    _op("POST", "/extensions/{number}/password", ADMIN,
        "Rotate the SIP password; the new one is shown this once"),

    _op("GET", "/carriers", READ, "Carriers (no secrets)", sortable=("slug", "host")),
    _op("POST", "/carriers", ADMIN, "Add a carrier",
        body={"slug": _SLUG, **_CARRIER_FIELDS}, required=("slug", "host", "auth")),
    _op("GET", "/carriers/{slug}", READ, "One carrier (no secret)"),
    _op("PATCH", "/carriers/{slug}", ADMIN, "Change a carrier", body=_CARRIER_FIELDS),
    _op("DELETE", "/carriers/{slug}", ADMIN, "Remove a carrier that serves no number"),

    _op("GET", "/numbers", READ, "The number inventory",
        sortable=("number", "carrier", "branch"), query={"carrier": _SLUG, "branch": _SLUG}),
    _op("POST", "/numbers", ADMIN, "Add a number", body={
        "e164": _E164, "carrier": _SLUG, "branch": _SLUG,
        "monthly_fee": {"type": "string", "pattern": "^[0-9]{1,9}(\\.[0-9]{1,2})?$"},
        "route": _DEST, "after_hours": _DEST, "contract": _TEXT},
        required=("e164", "carrier", "branch", "monthly_fee", "route")),
    _op("GET", "/numbers/{e164}", READ, "One number with its history"),
    _op("PUT", "/numbers/{e164}/route", ADMIN, "Route a number",
        body={"route": _DEST, "after_hours": {**_DEST, "type": ["string", "null"]}},
        required=("route",)),
    _op("POST", "/numbers/{e164}/move", ADMIN, "Serve the number through another carrier "
        "or charge it to another branch; its route stays",
        body={"carrier": _SLUG, "branch": _SLUG}),
    _op("DELETE", "/numbers/{e164}", ADMIN, "Release a number (its history stays)"),

    _op("GET", "/routes", READ, "Where every number's calls go and how each branch calls out"),

    _op("GET", "/queues", READ, "Queues", sortable=("queue", "strategy"),
        query={"branch": _SLUG}),
    _op("POST", "/queues", ADMIN, "Add a queue",
        body={"branch": _SLUG, "name": _SLUG, **_QUEUE_FIELDS},
        required=("branch", "name", "members")),
    _op("GET", "/queues/{branch}/{name}", READ, "One queue"),
    _op("PATCH", "/queues/{branch}/{name}", ADMIN, "Change a queue", body=_QUEUE_FIELDS),
    _op("DELETE", "/queues/{branch}/{name}", ADMIN, "Remove a queue"),
    _op("POST", "/agents/{extension}/{action}", ADMIN, "Log a phone in or out of queues, "
        "pause or unpause it, at once over AMI (action: login, logout, pause, unpause)",
        body={"queue": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,31}/[a-z][a-z0-9-]"
                                                     "{0,31}$"}}),

    _op("GET", "/webhooks", ADMIN, "Webhooks and their deliveries (no secrets)"),
    _op("POST", "/webhooks", ADMIN, "Add a webhook; the answer holds its signing secret, "
        "shown this once", body={
            "url": {"type": "string", "maxLength": 2048},
            "events": {"type": "array", "items": {"type": "string", "enum": [
                "call.ringing", "call.answered", "call.missed", "cdr.rated"]}, "minItems": 1},
            "branch": _SLUG}, required=("url", "events")),
    _op("DELETE", "/webhooks/{id}", ADMIN, "Remove a webhook"),

    _op("POST", "/apply", ADMIN, "Render, write, reload and verify (or only show the diff)",
        body={"node": _SLUG, "dry_run": _BOOL}),
    _op("GET", "/status", READ, "Live state of every node: AMI, carriers, phones, calls, "
        "queues, crisis switches"),
    _op("GET", "/reports/costs", ALL, "Monthly costs per department", query={
        "month": _MONTH, "department": _SLUG,
        "format": {"type": "string", "enum": ["json", "csv", "excel"]}}),
    _op("GET", "/reports/sla", ALL, "Service level per queue", query={
        "month": _MONTH, "queue": {"type": "string", "maxLength": 65},
        "by": {"type": "string", "enum": ["queue", "day"]}}),
    _op("GET", "/audit", ADMIN, "The audit trail", query={
        "since": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}}),
)
OPERATION_BY_ROUTE = {(o.method, o.path): o for o in OPERATIONS}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}


def _operation_document(op: Operation) -> dict[str, Any]:
    document: dict[str, Any] = {
        "summary": op.summary, "description": f"Roles: {', '.join(op.roles)}.",
        "security": [{"bearer": []}],
        "parameters": [{"name": name, "in": "path", "required": True,
                        "schema": {"type": "string"}}
                       for name in _path_parameters(op.path)] + [
            {"name": name, "in": "query", "schema": schema}
            for name, schema in op.query_schema["properties"].items()],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {
                "schema": {"type": "object"}}}},
            "400": _error_response("Invalid input (nothing was changed)"),
            "401": _error_response("Missing or unknown token"),
            "403": _error_response("The token's role may not do this"),
            "404": _error_response("No such object"),
            "409": _error_response("Conflicts with what exists"),
            "502": _error_response("Asterisk refused or could not be reached"),
        },
    }
    if op.path.startswith("/api/v1/reports/"):
        document["responses"]["200"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    if op.body_schema is not None:
        document["requestBody"] = {"required": bool(op.required), "content": {
            "application/json": {"schema": op.body_schema}}}
    return document


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 for every route, with who may call it."""
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation_document(op)
    for public in ("/healthz", "/metrics"):
        paths[public] = {"get": {"summary": public.strip("/"), "security": [],
                                 "responses": {"200": {"description": "OK"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "pbxctl", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "object", "required": ["id", "message"], "properties": {
                    "id": {"type": "string"}, "message": {"type": "string"}}}}}},
        },
    }
