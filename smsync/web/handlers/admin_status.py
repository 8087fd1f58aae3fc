"""Administration: the server's status -- the services listening, the store backend
(its URI without any password), counts of accounts and devices, uptime and version --
as a page and as an API call, through ``smsync.admin.status``."""

from __future__ import annotations

from smsync.admin import status
from smsync.web import render
from smsync.web.openapi import PROBLEMS
from smsync.web.routes import ADMIN, api, page


def _listening(edge) -> dict:
    """``{service: ["host:port (TLS)", ...]}`` of what this server listens on."""
    listening = getattr(edge, "listening", None)
    out = {}
    for service in ("imap", "pop3", "lmtp", "smtp", "submission", "http"):
        found = listening.of(service) if listening is not None else []
        if found:
            out[service] = [f"{x.interface}:{x.port}" + (" (TLS)" if x.tls else "") for x in found]
    if listening is not None and listening.http_protocols:
        out["http protocols"] = sorted(listening.http_protocols)
    return out


@page("GET", "/web/admin/status", access=ADMIN)
async def status_page(req):
    now = await status.status(req.edge, listening=_listening(req.edge))
    return render.page(req, "admin_status.html", title="Status", status_=now,
                       uptime=status.uptime_text(now.uptime))


STATUS = {"type": "object", "required": ["version", "backend", "accounts", "devices", "uptime_seconds"],
          "properties": {
              "version": {"type": "string"}, "backend": {"type": "string"},
              "store": {"type": "string", "description": "the store URI without any password"},
              "accounts": {"type": "integer"}, "devices": {"type": "integer"},
              "started": {"type": "string", "format": "date-time"},
              "uptime_seconds": {"type": "integer"},
              "listening": {"type": "object", "additionalProperties": {
                  "type": "array", "items": {"type": "string"}}}}}


@api("GET", "/api/v1/admin/status", access=ADMIN, tags=["administration"],
     summary="Services listening, store backend, counts of accounts and devices, uptime and version",
     responses={"200": {"description": "the status", "content": {"application/json": {"schema": STATUS}}},
                **PROBLEMS})
async def get_status(req):
    now = await status.status(req.edge, listening=_listening(req.edge))
    return render.json_answer(now.as_json())
