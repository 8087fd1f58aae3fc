"""One request being served: who asks, what they sent, and handles opened for it."""

from __future__ import annotations

from typing import Optional

from smsync import errors
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.xml import parse_body


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

    def xml(self):
        """The parsed XML body, or None when empty."""
        return parse_body(self.body())

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
