"""The interface's own stylesheet and script (no inline ones: the Content-Security-Policy
forbids them)."""

from __future__ import annotations

import os

from smsync.edge.web import Response
from smsync.web import render
from smsync.web.request import not_found
from smsync.web.routes import PUBLIC, page

_DIR = os.path.join(render.HERE, "static")
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".png": "image/png", ".svg": "image/svg+xml"}
_CACHE: dict[str, bytes] = {}


@page("GET", "/web/static/{name}", access=PUBLIC)
async def static_file(req, name: str):
    kind = _TYPES.get(os.path.splitext(name)[1])
    # Only a plain file name of this directory: no path, nothing hidden.
    if kind is None or "/" in name or "\\" in name or name.startswith("."):
        raise not_found()
    body = _CACHE.get(name)
    if body is None:
        try:
            with open(os.path.join(_DIR, name), "rb") as f:
                body = f.read()
        except OSError:
            raise not_found() from None
        _CACHE[name] = body
    headers = dict(render.SECURITY_HEADERS)
    headers["Cache-Control"] = "public, max-age=3600"
    return Response(200, body, kind, headers)
