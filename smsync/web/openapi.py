"""The OpenAPI 3 document of ``/api/v1/``, built from the API routes' own descriptions
(``smsync.web.routes.api``), and the schemas those descriptions share."""

from __future__ import annotations

import re

import smsync

PROBLEM = {"type": "object", "required": ["title", "status"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}, "field": {"type": "string"}}}


def _problem(description: str) -> dict:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


#: The refusals every call can answer.
PROBLEMS = {"400": _problem("bad input"), "401": _problem("not signed in"),
            "403": _problem("not allowed"), "404": _problem("no such thing"),
            "503": _problem("the store is unavailable")}

NULLABLE_TEXT = {"type": "string", "nullable": True}
WHEN = {"type": "string", "format": "date-time", "nullable": True}

DEVICE = {"type": "object", "required": ["id", "name", "protocol", "type"], "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}, "protocol": {"type": "string"},
    "type": {"type": "string"}, "user_agent": NULLABLE_TEXT, "first_seen": WHEN, "last_sync": WHEN,
    "renamable": {"type": "boolean"}, "wipeable": {"type": "boolean"},
    "syncs": {"type": "array", "items": {"type": "string"},
              "description": "what it syncs, as far as known (\"Mail\", \"Calendars: Work\")"},
    "details": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "what the device says of itself (model, OS...), on the device's own call"},
    "wipe": {"type": "object", "nullable": True, "properties": {
        "account_only": {"type": "boolean"}, "requested": {"type": "string"},
        "acknowledged": NULLABLE_TEXT, "status": NULLABLE_TEXT}}}}


def LIST_OF(item: dict, paged: bool = False) -> dict:  # noqa: N802 (reads as a type)
    schema = {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": item}}}
    if paged:
        schema["properties"]["next"] = {"type": "string", "nullable": True}
        schema["properties"]["total"] = {"type": "integer"}
    return schema


def path_parameter(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


def document(routes) -> dict:
    """The OpenAPI document of the API ``routes``."""
    paths: dict = {}
    for route in routes:
        if not route.api:
            continue
        operation = dict(route.doc)
        names = re.findall(r"\{([a-z_]+)\}", route.pattern)
        given = {p["name"] for p in operation.get("parameters", ()) if p.get("in") == "path"}
        operation["parameters"] = list(operation.get("parameters", ())) + [
            path_parameter(n, n) for n in names if n not in given]
        if not operation["parameters"]:
            del operation["parameters"]
        operation.setdefault("operationId", route.handler.__name__)
        if route.access == "public":
            operation["security"] = []
        paths.setdefault(route.pattern, {})[route.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "smsync API", "version": getattr(smsync, "__version__", "1"),
                 "description": "What the smsync web pages do, for scripts: sign in with the "
                                "session cookie (writes then carry X-CSRF-Token) or HTTP Basic."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {"Problem": PROBLEM},
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"},
                                "cookie": {"type": "apiKey", "in": "cookie", "name": "smsync_session"}},
        },
        "security": [{"basic": []}, {"cookie": []}],
    }
