"""A real CalDAV + CardDAV server on 127.0.0.1 (ephemeral port) over a real store, for
the dav, caldav and carddav tests.

Clients (the caldav library, vdirsyncer, urllib) block, so tests run them in a thread
(``in_thread``) while the reactor serves them.
"""

from __future__ import annotations

import base64
import functools
import http.client

from twisted.internet import reactor, threads

from smsync.auth import hash_password, make_portal
from smsync.config import Config
from smsync.store.registry import open_store
from smsync.tap.http import HttpRoot, make_site
from smsync.tap.service import mount_http

USER = "alice@example.org"
OTHER = "bob@example.org"
PASSWORD = "correct horse"


@functools.cache
def password_hash() -> str:
    # argon2 costs ~0.1 s a hash: every test account shares one.
    return hash_password(PASSWORD)


def in_thread(fn, *args, **kwargs):
    """Run a blocking client function off the reactor thread (a Deferred)."""
    return threads.deferToThread(fn, *args, **kwargs)


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


class Running:
    """A listening server and the store under it."""

    def __init__(self, store, root, port):
        self.store = store
        self.root = root
        self.port = port
        self.host = "127.0.0.1"
        self.portno = port.getHost().port
        self.url = f"http://{self.host}:{self.portno}"

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

    async def stop(self):
        await self.port.stopListening()
        await self.store.close()


async def start_server(uri: str = "memory:") -> Running:
    store = await open_store(uri)
    for account in (USER, OTHER):
        await store.accounts.add(account, password_hash())
    root = HttpRoot()
    portal = make_portal(store)
    for protocol in ("caldav", "carddav"):
        mount_http(root, protocol, store, portal, Config())
    port = reactor.listenTCP(0, make_site(root), interface="127.0.0.1")
    return Running(store, root, port)
