"""One request being served: who asks, what they sent, and handles opened for it."""

from __future__ import annotations

import threading
from typing import Optional

from twisted.internet.threads import deferToThread

from smsync import errors
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.xml import new_parser, parse_body

#: XML bodies at least this large are parsed on a thread: a megabyte takes lxml some
#: 10 ms, the whole server's time on the reactor thread.
THREAD_PARSE = 32 * 1024

_parsers = threading.local()


def _parse_in_thread(body: bytes):
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = new_parser()
    try:
        return parse_body(body, parser), None
    except DavError as e:
        return None, e


def _normal(user: str) -> str:
    return user.strip().lower()


class Context:
    """Per-request state. ``account`` is the authenticated account (lower-case)."""

    def __init__(self, app, request, account: Optional[str]):
        self.app = app
        self.request = request
        self.account = account
        self.store = app.store
        self.tree = app.tree
        self.registry = app.registry
        self._body: Optional[bytes] = None
        self._xml: Optional[tuple] = None
        self._cstore = None

    # --- request

    @property
    def method(self) -> str:
        return self.request.method.decode("ascii", "replace").upper()

    def header(self, name: str) -> Optional[str]:
        value = self.request.getHeader(name)
        if value is None:
            return None
        return value.decode("latin-1") if isinstance(value, bytes) else value

    def depth(self, default: str = "infinity") -> str:
        """The Depth header: "0", "1" or "infinity"; 400 for anything else."""
        value = (self.header("Depth") or default).strip().lower()
        if value not in ("0", "1", "infinity"):
            raise DavError(400, message=f"bad Depth header {value!r}")
        return value

    def body(self) -> bytes:
        """The whole request body (the size limit was checked before reading)."""
        if self._body is None:
            content = self.request.content
            if content is None:
                self._body = b""
            else:
                content.seek(0)
                self._body = content.read()
        return self._body

    def _xml_body(self) -> bytes:
        body = self.body()
        limit = self.app.max_xml_body
        if len(body) > limit:
            raise DavError(413, message=f"XML body of {len(body)} bytes; at most {limit} are taken")
        return body

    async def load_xml(self) -> None:
        """Check the XML body's size and, when large, parse it on a thread now, for
        ``xml()`` to answer from (413 past the app's ``max_xml_body``)."""
        body = self._xml_body()
        if len(body) >= THREAD_PARSE and self._xml is None:
            self._xml = await deferToThread(_parse_in_thread, body)

    def xml(self):
        """The parsed XML body, or None when empty (400 if malformed, 413 if too large)."""
        if self._xml is None:
            body = self._xml_body()
            try:
                self._xml = parse_body(body), None
            except DavError as e:
                self._xml = None, e
        root, error = self._xml
        if error is not None:
            raise error
        return root

    # --- access

    def check_owner(self, user: str) -> None:
        """403 unless ``user`` (a path segment) is the authenticated account."""
        if self.account is None or _normal(user) != self.account:
            raise DavError(403, "{DAV:}need-privileges", "that belongs to another account")

    async def collections(self):
        """The account's ``ICollectionStore``."""
        if self._cstore is None:
            try:
                self._cstore = await self.app.handles.collections(self.account)
            except errors.NotFound:
                raise DavError(403, "{DAV:}need-privileges", "no such account") from None
        return self._cstore

    async def handle(self, res):
        """The ``ICollection`` of a COLLECTION or ITEM resource."""
        if res.handle is None:
            try:
                res.handle, _ = await self.app.handles.collection(self.account, res.collection_name)
            except errors.NotFound:
                raise DavError(404) from None
        return res.handle

    async def content(self, res) -> Optional[bytes]:
        """An ITEM's content (None if it vanished meanwhile)."""
        if res.content is None and res.item is not None:
            handle = await self.handle(res)
            found = await handle.get([res.item_name])
            if found:
                res.content = found[0].content
        return res.content
