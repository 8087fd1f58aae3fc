"""What the administration status page shows: the services listening, the store's
backend (its URI without any password), counts of accounts and devices, uptime and
version."""

from __future__ import annotations

import time
from typing import Optional
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

import smsync
from smsync.admin import accounts, alldevices

_SECRET_PARAMS = {"password", "passwd", "pass", "sslpassword", "secret", "token", "key"}


def safe_uri(uri: str) -> str:
    """A store URI fit to show: no password in the authority, no secret query
    parameter."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri.split(":", 1)[0] + ":"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{host}" if user else host
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    secret = any(k.lower() in _SECRET_PARAMS for k, _ in pairs)
    if netloc == parts.netloc and not secret:
        return uri
    query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


@attrs.frozen
class Status:
    version: str
    backend: str
    store: str
    accounts: int
    devices: int
    started: float
    uptime: float
    listening: dict

    def as_json(self) -> dict:
        return {"version": self.version, "backend": self.backend, "store": self.store,
                "accounts": self.accounts, "devices": self.devices,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
                "uptime_seconds": int(self.uptime),
                "listening": {k: list(v) for k, v in sorted(self.listening.items())}}


def uptime_text(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h {minutes} min"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s"


async def status(edge, clock=time.time, listening: Optional[dict] = None) -> Status:
    """The status of the server ``edge`` belongs to; ``listening``: what it listens on
    as ``{service: [address, ...]}`` (the caller words it)."""
    store = edge.store
    uri = getattr(store, "uri", "") or ""
    started = getattr(edge, "started", None) or clock()
    return Status(
        version=smsync.__version__, backend=uri.split(":", 1)[0], store=safe_uri(uri),
        accounts=await accounts.count(store), devices=await alldevices.count(store),
        started=started, uptime=max(0.0, clock() - started),
        listening=dict(listening or {}))
