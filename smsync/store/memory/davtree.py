"""``IDavTree`` in memory: each account's plain WebDAV nodes live with its
``AccountData`` (path -> node and content), so removing the account removes them."""

from __future__ import annotations

from datetime import datetime, timezone

import attrs
from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import AlreadyExists, Conflict, InvalidData, NotFound
from smsync.interfaces import IDavTree
from smsync.model import DavNode
from smsync.store.common import dav_below, dav_parent, dav_path, dav_properties, make_etag


def _now() -> datetime:
    return datetime.now(timezone.utc)


@implementer(IDavTree)
class MemoryDavTree:
    """The plain WebDAV trees of a memory store."""

    def __init__(self, store):
        self._store = store

    def _nodes(self, account) -> dict:
        return self._store._account_data(account).dav_nodes

    def _check_parent(self, nodes: dict, path: str) -> None:
        parent = dav_parent(path)
        if parent is not None and not (parent in nodes and nodes[parent][0].collection):
            raise Conflict(f"{parent} is not a collection")

    @deferred
    async def node(self, account, path):
        path = dav_path(path)
        try:
            entry = self._nodes(account).get(path)
        except NotFound:
            return None
        return entry[0] if entry is not None else None

    @deferred
    async def members(self, account, path):
        path = dav_path(path)
        try:
            nodes = self._nodes(account)
        except NotFound:
            return []
        return sorted((n for p, (n, _) in nodes.items() if dav_parent(p) == path),
                      key=lambda n: n.path)

    @deferred
    async def read(self, account, path):
        path = dav_path(path)
        try:
            entry = self._nodes(account).get(path)
        except NotFound:
            return None
        return entry[1] if entry is not None else None

    @deferred
    async def put(self, account, path, content, content_type=None):
        path = dav_path(path)
        if isinstance(content, (bytearray, memoryview)):
            content = bytes(content)
        if not isinstance(content, bytes):
            raise InvalidData("content must be bytes")
        if content_type is not None and not isinstance(content_type, str):
            raise InvalidData("a content type is text")
        nodes = self._nodes(account)
        self._check_parent(nodes, path)
        old = nodes.get(path)
        if old is not None and old[0].collection:
            raise Conflict(f"{path} is a collection")
        node = DavNode(path=path, collection=False, etag=make_etag(content), size=len(content),
                       content_type=content_type, modified=_now(),
                       properties=dict(old[0].properties) if old is not None else {})
        nodes[path] = (node, content)
        return node

    @deferred
    async def mkcol(self, account, path):
        path = dav_path(path)
        nodes = self._nodes(account)
        if path in nodes:
            raise AlreadyExists(f"{path} exists")
        self._check_parent(nodes, path)
        node = DavNode(path=path, collection=True, etag=make_etag(path.encode("utf-8")), size=0,
                       content_type=None, modified=_now())
        nodes[path] = (node, None)
        return node

    @deferred
    async def set_properties(self, account, path, changes):
        path = dav_path(path)
        nodes = self._nodes(account)
        entry = nodes.get(path)
        if entry is None:
            raise NotFound(f"no node {path}")
        node = attrs.evolve(entry[0], properties=dav_properties(entry[0].properties, changes))
        nodes[path] = (node, entry[1])
        return node

    @deferred
    async def delete(self, account, path):
        path = dav_path(path)
        nodes = self._nodes(account)
        if path not in nodes:
            raise NotFound(f"no node {path}")
        for p in [p for p in nodes if dav_below(p, path)]:
            del nodes[p]

    @deferred
    async def move(self, account, old, new):
        old, new = dav_path(old), dav_path(new)
        if dav_below(new, old):
            raise InvalidData(f"{new} is {old} or below it")
        nodes = self._nodes(account)
        if old not in nodes:
            raise NotFound(f"no node {old}")
        if new in nodes:
            raise AlreadyExists(f"{new} exists")
        self._check_parent(nodes, new)
        for p in [p for p in nodes if dav_below(p, old)]:
            node, content = nodes.pop(p)
            moved = new + p[len(old):]
            nodes[moved] = (attrs.evolve(node, path=moved), content)
        return nodes[new][0]
