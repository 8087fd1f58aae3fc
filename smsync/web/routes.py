"""The web interface's route registry: one handler per page or API call, registered by
method and path pattern, as IMAP's commands and EWS's operations are.

A pattern is a path with ``{name}`` segments (``/api/v1/devices/{device}``); a
handler is ``async def handler(req, **params) -> Response`` where ``req`` is the
``WebRequest``. ``access`` says who may call it: ``"public"`` (no sign-in),
``"user"`` (any signed-in account), ``"admin"`` (an administrator). An API route also
carries its OpenAPI description (``smsync.web.openapi`` builds the document from them),
so the document cannot drift from what is served.
"""

from __future__ import annotations

import re
from typing import Callable, Optional
from urllib.parse import unquote

import attrs

PUBLIC, USER, ADMIN = "public", "user", "admin"

_SEGMENT = re.compile(r"\{([a-z_]+)\}")


@attrs.frozen
class Route:
    method: str
    pattern: str
    handler: Callable
    access: str
    api: bool
    #: The OpenAPI operation object (summary, parameters, requestBody, responses).
    doc: dict = attrs.field(factory=dict)
    regex: object = attrs.field(default=None, eq=False)

    def match(self, path: str) -> Optional[dict]:
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        return {k: unquote(v) for k, v in found.groupdict().items()}


_ROUTES: list[Route] = []


def _compile(pattern: str):
    parts = []
    position = 0
    for found in _SEGMENT.finditer(pattern):
        parts.append(re.escape(pattern[position:found.start()]))
        parts.append(f"(?P<{found.group(1)}>[^/]+)")
        position = found.end()
    parts.append(re.escape(pattern[position:]))
    return re.compile("".join(parts))


def _register(method: str, pattern: str, access: str, api: bool, doc: dict):
    def register(fn):
        _ROUTES.append(Route(method, pattern, fn, access, api, doc, _compile(pattern)))
        return fn

    return register


def page(method: str, pattern: str, access: str = USER):
    """Register an HTML page (or a form's POST) handler."""
    return _register(method, pattern, access, False, {})


def api(method: str, pattern: str, access: str = USER, **doc):
    """Register a JSON API handler with its OpenAPI operation (``summary``,
    ``parameters``, ``requestBody``, ``responses``, ``tags``...)."""
    return _register(method, pattern, access, True, doc)


def resolve(method: str, path: str) -> tuple[Optional[Route], dict, list[str]]:
    """The route of ``method`` and ``path`` with its parameters, or (None, {}, the
    methods that path has) -- an empty list: no such path."""
    allowed = []
    for route in _ROUTES:
        params = route.match(path)
        if params is None:
            continue
        if route.method == method or (method == "HEAD" and route.method == "GET"):
            return route, params, []
        allowed.append(route.method)
    return None, {}, allowed


def all_routes() -> list[Route]:
    return list(_ROUTES)
