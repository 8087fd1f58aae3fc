"""What a web handler sees of one request (``WebRequest``), and the errors a handler
raises to refuse it (``WebError``), answered as an error page or as
``application/problem+json`` (RFC 9457) by the app."""

from __future__ import annotations

import json
from typing import Optional
from urllib.parse import parse_qs

import attrs

from smsync.edge.web import peer_host

#: Largest form or JSON body read.
MAX_BODY = 256 * 1024


class WebError(Exception):
    """A refusal: ``status``, a short ``title`` and the ``detail`` shown to the user;
    ``field`` names the form field at fault, if one is."""

    def __init__(self, status: int, title: str, detail: str = "", field: Optional[str] = None):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail or title
        self.field = field


def bad_request(detail: str, field: Optional[str] = None) -> WebError:
    return WebError(400, "Bad request", detail, field)


def not_found(detail: str = "no such thing here") -> WebError:
    return WebError(404, "Not found", detail)


@attrs.define
class WebRequest:
    """One request: the twisted.web request under it, who sent it (``account``, None
    when nobody signed in; ``session`` when through the sign-in cookie), and its
    decoded parts."""

    raw: object
    edge: object
    app: object
    method: str
    path: str
    account: Optional[str] = None
    admin: bool = False
    session: object = None
    _body: Optional[bytes] = None

    @property
    def store(self):
        return self.edge.store

    @property
    def host(self) -> str:
        return peer_host(self.raw)

    @property
    def secure(self) -> bool:
        return bool(self.raw.isSecure())

    def header(self, name: str) -> Optional[str]:
        value = self.raw.getHeader(name.encode("ascii"))
        return value.decode("latin-1") if value is not None else None

    def query(self, name: str, default: Optional[str] = None) -> Optional[str]:
        values = self.raw.args.get(name.encode("ascii"))
        if not values:
            return default
        try:
            return values[-1].decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request(f"{name} is not UTF-8 text", name) from None

    def body(self) -> bytes:
        if self._body is None:
            content = self.raw.content
            self._body = content.read(MAX_BODY + 1) if content is not None else b""
            if len(self._body) > MAX_BODY:
                raise WebError(413, "Request too large", "the request body is too large")
        return self._body

    def form(self) -> dict:
        """The fields of a form POST (``application/x-www-form-urlencoded``), the last
        value of each."""
        kind = (self.header("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise WebError(415, "Unsupported media type", "a form is sent as application/x-www-form-urlencoded")
        try:
            fields = parse_qs(self.body().decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        except (UnicodeDecodeError, ValueError):
            raise bad_request("the form is not UTF-8 text") from None
        return {k: v[-1] for k, v in fields.items()}

    def json(self) -> object:
        """The JSON body of an API call."""
        kind = (self.header("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise WebError(415, "Unsupported media type", "the body is sent as application/json")
        try:
            return json.loads(self.body().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise bad_request("the body is not JSON") from None

    def json_object(self) -> dict:
        value = self.json()
        if not isinstance(value, dict):
            raise bad_request("the body is a JSON object")
        return value
