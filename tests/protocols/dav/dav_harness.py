"""The DAV tests' view of the shared harness (``smsync.testing.servers``): a real CalDAV +
CardDAV server on 127.0.0.1 over a real store, for the dav, caldav and carddav tests,
with a plain HTTP client.

Clients (the caldav library, vdirsyncer, urllib) block, so tests run them in a thread
(``in_thread``) while the reactor serves them.
"""

from __future__ import annotations

import base64
import http.client

from smsync.testing.servers import (OTHER, PASSWORD, USER, RunningServers, in_thread,  # noqa: F401
                                    password_hash)


class Reply:
    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str):
        return self.headers.get(name)

    def xml(self):
        from lxml import etree

        return etree.fromstring(self.body)

    def __repr__(self):
        return f"<Reply {self.status} {self.body[:300]!r}>"


class DavClient:
    """Plain HTTP requests with Basic auth to the site at ``host:portno``."""

    host = "127.0.0.1"

    def __init__(self, store, portno: int):
        self.store = store
        self.portno = portno

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.portno}"

    def request(self, method: str, path: str, body: bytes | str = b"", user: str | None = USER,
                password: str = PASSWORD, headers: dict | None = None) -> Reply:
        """One blocking HTTP request (call it through ``in_thread``)."""
        conn = http.client.HTTPConnection(self.host, self.portno, timeout=30)
        hdrs = dict(headers or {})
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            hdrs["Authorization"] = f"Basic {token}"
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/xml; charset=utf-8"
        conn.request(method, path, body=body or None, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        conn.close()
        return reply

    async def call(self, *args, **kwargs) -> Reply:
        return await in_thread(self.request, *args, **kwargs)

    def caldav_client(self, user: str = USER, url: str | None = None):
        import caldav

        return caldav.DAVClient(url=url or self.url + "/dav/", username=user, password=PASSWORD)

    async def collections(self, user: str = USER):
        return await self.store.collections(user)


class Running(RunningServers, DavClient):
    """CalDAV and CardDAV listening on one site, the store under them, and the client."""


async def start_server(uri: str = "memory:") -> Running:
    return await Running.start(("caldav", "carddav"), uri)
