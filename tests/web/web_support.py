"""What the web interface tests over a real server share: one HTTP request, and signing
in through the form for the session cookie."""

from __future__ import annotations

import http.client
from typing import Optional
from urllib.parse import urlencode

from smsync.testing.servers import PASSWORD, USER

FORM = "application/x-www-form-urlencoded"


def request(running, method: str, path: str, body: bytes = b"", headers: Optional[dict] = None):
    """``(status, headers with lower-case names, body)`` of one request on a new connection."""
    conn = http.client.HTTPConnection(running.host, running.port("http"), timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def sign_in(running, user=USER, password=PASSWORD) -> str:
    """The session cookie (``name=value``) of ``user`` signed in through the form."""
    form = urlencode({"user": user, "password": password}).encode()
    status, headers, _ = request(running, "POST", "/web/signin", form, {"Content-Type": FORM})
    assert status == 303, status
    return headers["set-cookie"].split(";")[0]
