"""The OpenAPI 3.1 document and which roles may call which route."""

from __future__ import annotations

from typing import Any

READ = ("admin", "viewer")
ROUTES: dict[str, dict[str, tuple[str, ...]]] = {
    "/api/v1/branches": {"GET": READ},
    "/api/v1/extensions": {"GET": READ},
    "/api/v1/carriers": {"GET": READ},
    "/api/v1/numbers": {"GET": READ},
    "/api/v1/reports/costs": {"GET": ("admin", "accountant", "viewer")},
    "/api/v1/audit": {"GET": ("admin",)},
}
_SUMMARIES = {
    "/api/v1/branches": "Branches", "/api/v1/extensions": "Extensions (no secrets)",
    "/api/v1/carriers": "Carriers (no secrets)", "/api/v1/numbers": "The number inventory",
    "/api/v1/reports/costs": "Monthly costs per department",
    "/api/v1/audit": "The audit trail",
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 for every route, with who may call it."""
    paths: dict[str, Any] = {}
    for path, methods in ROUTES.items():
        for method, roles in methods.items():
            operation: dict[str, Any] = {
                "summary": _SUMMARIES[path],
                "description": f"Roles: {', '.join(roles)}.",
                "security": [{"bearer": []}],
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {
                        "schema": {"type": "object"}}}},
                    "400": _error_response("Invalid input"),
                    "401": _error_response("Missing or unknown token"),
                    "403": _error_response("The token's role may not do this"),
                },
            }
            if path == "/api/v1/reports/costs":
                operation["parameters"] = [
                    {"name": "month", "in": "query", "required": True,
                     "schema": {"type": "string", "pattern": "^20[0-9]{2}-(0[1-9]|1[0-2])$"}},
                    {"name": "department", "in": "query", "schema": {"type": "string"}},
                    {"name": "format", "in": "query",
                     "schema": {"type": "string", "enum": ["json", "csv", "excel"]}},
                ]
                operation["responses"]["200"]["content"]["text/csv"] = {
                    "schema": {"type": "string"}}
            paths.setdefault(path, {})[method.lower()] = operation
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
