"""Answers of the web interface: pages from Jinja2 templates (autoescaped: whatever a
user or a device named itself is shown as text), JSON, problems (RFC 9457), redirects,
each with the security headers every answer carries."""

from __future__ import annotations

import json
import os
from typing import Optional

from jinja2 import Environment, FileSystemLoader, select_autoescape

from smsync.edge.web import Response

HERE = os.path.dirname(__file__)
HTML = "text/html; charset=utf-8"
JSON = "application/json"
PROBLEM = "application/problem+json"

#: Every answer's security headers: scripts and styles only from this site (no inline
#: script can run, whatever a page shows), no framing, no sniffing, no referrer to another
#: site. (Not "no-referrer": under it a browser sends ``Origin: null`` with this site's
#: own forms, which the Origin check must refuse.)
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_ENV = Environment(loader=FileSystemLoader(os.path.join(HERE, "templates")),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)


def page(req, template: str, status: int = 200, **values) -> Response:
    """The page ``template`` for ``req``'s user (the layout needs who is signed in,
    whether an administrator, and the CSRF token its forms carry)."""
    session = getattr(req, "session", None)
    body = _ENV.get_template(template).render(
        account=getattr(req, "account", None), admin=getattr(req, "admin", False),
        csrf=session.csrf if session is not None else "", path=getattr(req, "path", ""), **values)
    return Response(status, body.encode("utf-8"), HTML, dict(SECURITY_HEADERS))


def json_answer(value, status: int = 200, headers: Optional[dict] = None) -> Response:
    sent = dict(SECURITY_HEADERS)
    sent.update(headers or {})
    return Response(status, json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
                    JSON, sent)


def problem(status: int, title: str, detail: str, headers: Optional[dict] = None, **extra) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update(extra)
    sent = dict(SECURITY_HEADERS)
    sent.update(headers or {})
    return Response(status, json.dumps(body, ensure_ascii=False).encode("utf-8"), PROBLEM, sent)


def redirect(location: str, status: int = 303, headers: Optional[dict] = None) -> Response:
    sent = dict(SECURITY_HEADERS)
    sent["Location"] = location
    sent.update(headers or {})
    return Response(status, b"", "text/plain; charset=utf-8", sent)
