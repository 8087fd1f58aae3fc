"""``IDavTree`` over SQL: one ``dav_nodes`` row per plain WebDAV resource or collection,
content inline, dead properties as JSON; removed with the account.

Writes share-lock the account row (as the settings do), so a node written while
another frontend removes the account waits for it and then finds no account, instead
of leaving an orphaned row. A node's ``parent`` column ("" at the top) lists members
from an index; a subtree is the node and the paths starting with its path and ``/``.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import AlreadyExists, Conflict, InvalidData, NotFound
from smsync.interfaces import IDavTree
from smsync.model import DavNode
from smsync.store.common import (
    dav_below, dav_parent, dav_path, dav_properties, make_etag, normalize_account,
)
from smsync.store.sql.dialect import Dialect

_COLUMNS = "n.path, n.collection, n.etag, n.size, n.content_type, n.modified, n.properties"


def _stamp() -> tuple:
    """Now, as stored (seconds) and as read back (the same datetime either way)."""
    seconds = time.time()
    return seconds, datetime.fromtimestamp(seconds, timezone.utc)


def _node(row) -> DavNode:
    path, collection, etag, size, content_type, modified, properties = row
    return DavNode(path=path, collection=bool(collection), etag=etag, size=size,
                   content_type=content_type,
                   modified=datetime.fromtimestamp(modified, timezone.utc),
                   properties=json.loads(properties))


@implementer(IDavTree)
class SQLDavTree:
    """The plain WebDAV trees of a SQL store, in ``dialect``."""

    def __init__(self, store, dialect: Dialect):
        self._db = store.db
        q = dialect.q
        by_account = " FROM dav_nodes n JOIN accounts a ON a.id = n.account_id WHERE a.name = ?"
        self._sql_node = q(f"SELECT {_COLUMNS}{by_account} AND n.path = ?")
        self._sql_members = q(f"SELECT {_COLUMNS}{by_account} AND n.parent = ?"
                              f" ORDER BY n.path{dialect.binary_order}")
        self._sql_read = q(f"SELECT n.content{by_account} AND n.path = ?")
        self._sql_account = q("SELECT id FROM accounts WHERE name = ?" + dialect.share_lock)
        self._sql_get = q(
            "SELECT path, collection, etag, size, content_type, modified, properties"
            " FROM dav_nodes WHERE account_id = ? AND path = ?" + dialect.update_lock)
        self._sql_insert = q(
            "INSERT INTO dav_nodes (account_id, path, parent, collection, content, content_type,"
            " etag, size, modified, properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        self._sql_replace = q(
            "UPDATE dav_nodes SET content = ?, content_type = ?, etag = ?, size = ?, modified = ?"
            " WHERE account_id = ? AND path = ?")
        self._sql_properties = q(
            "UPDATE dav_nodes SET properties = ? WHERE account_id = ? AND path = ?")
        below = " WHERE account_id = ? AND (path = ? OR substr(path, 1, CAST(? AS INTEGER)) = ?)"
        self._sql_subtree = q("SELECT path FROM dav_nodes" + below + dialect.update_lock)
        self._sql_delete = q("DELETE FROM dav_nodes" + below)
        self._sql_rename = q(
            "UPDATE dav_nodes SET path = ?, parent = ? WHERE account_id = ? AND path = ?")

    # --- reads

    @deferred
    async def node(self, account, path):
        path = dav_path(path)
        try:
            account = normalize_account(account)
        except InvalidData:
            return None
        row = await self._db.read(lambda conn: conn.execute(self._sql_node, (account, path)).fetchone())
        return None if row is None else _node(row)

    @deferred
    async def members(self, account, path):
        path = dav_path(path)
        try:
            account = normalize_account(account)
        except InvalidData:
            return []
        rows = await self._db.read(
            lambda conn: conn.execute(self._sql_members, (account, path)).fetchall())
        return [_node(row) for row in rows]

    @deferred
    async def read(self, account, path):
        path = dav_path(path)
        try:
            account = normalize_account(account)
        except InvalidData:
            return None
        row = await self._db.read(lambda conn: conn.execute(self._sql_read, (account, path)).fetchone())
        return None if row is None or row[0] is None else bytes(row[0])

    # --- writes

    async def _write(self, account, fn, *args):
        try:
            account = normalize_account(account)
        except InvalidData:
            raise NotFound(f"no account {account!r}") from None
        return await self._db.write(self._in_account, account, fn, args)

    def _in_account(self, conn, ctx, account, fn, args):
        row = conn.execute(self._sql_account, (account,)).fetchone()
        if row is None:
            raise NotFound(f"no account {account}")
        return fn(conn, row[0], *args)

    def _get(self, conn, aid, path):
        row = conn.execute(self._sql_get, (aid, path)).fetchone()
        return None if row is None else _node(row)

    def _check_parent(self, conn, aid, path) -> None:
        parent = dav_parent(path)
        if parent is not None:
            node = self._get(conn, aid, parent)
            if node is None or not node.collection:
                raise Conflict(f"{parent} is not a collection")

    def _subtree(self, conn, aid, path) -> list:
        prefix = path + "/"
        return [r[0] for r in conn.execute(self._sql_subtree, (aid, path, len(prefix), prefix))]

    @deferred
    async def put(self, account, path, content, content_type=None):
        path = dav_path(path)
        if isinstance(content, (bytearray, memoryview)):
            content = bytes(content)
        if not isinstance(content, bytes):
            raise InvalidData("content must be bytes")
        if content_type is not None and not isinstance(content_type, str):
            raise InvalidData("a content type is text")
        return await self._write(account, self._put, path, content, content_type)

    def _put(self, conn, aid, path, content, content_type):
        self._check_parent(conn, aid, path)
        old = self._get(conn, aid, path)
        if old is not None and old.collection:
            raise Conflict(f"{path} is a collection")
        etag, (seconds, now) = make_etag(content), _stamp()
        if old is None:
            conn.execute(self._sql_insert, (aid, path, dav_parent(path) or "", 0, content,
                                            content_type, etag, len(content), seconds, "{}"))
            properties = {}
        else:
            conn.execute(self._sql_replace, (content, content_type, etag, len(content),
                                             seconds, aid, path))
            properties = old.properties
        return DavNode(path=path, collection=False, etag=etag, size=len(content),
                       content_type=content_type, modified=now, properties=properties)

    @deferred
    async def mkcol(self, account, path):
        return await self._write(account, self._mkcol, dav_path(path))

    def _mkcol(self, conn, aid, path):
        if self._get(conn, aid, path) is not None:
            raise AlreadyExists(f"{path} exists")
        self._check_parent(conn, aid, path)
        etag, (seconds, now) = make_etag(path.encode("utf-8")), _stamp()
        conn.execute(self._sql_insert, (aid, path, dav_parent(path) or "", 1, None, None, etag, 0,
                                        seconds, "{}"))
        return DavNode(path=path, collection=True, etag=etag, size=0, content_type=None,
                       modified=now)

    @deferred
    async def set_properties(self, account, path, changes):
        path = dav_path(path)
        dav_properties({}, changes)
        return await self._write(account, self._set_properties, path, changes)

    def _set_properties(self, conn, aid, path, changes):
        node = self._get(conn, aid, path)
        if node is None:
            raise NotFound(f"no node {path}")
        properties = dav_properties(node.properties, changes)
        conn.execute(self._sql_properties, (json.dumps(properties), aid, path))
        return DavNode(path=node.path, collection=node.collection, etag=node.etag, size=node.size,
                       content_type=node.content_type, modified=node.modified,
                       properties=properties)

    @deferred
    async def delete(self, account, path):
        await self._write(account, self._delete, dav_path(path))

    def _delete(self, conn, aid, path):
        if self._get(conn, aid, path) is None:
            raise NotFound(f"no node {path}")
        prefix = path + "/"
        conn.execute(self._sql_delete, (aid, path, len(prefix), prefix))

    @deferred
    async def move(self, account, old, new):
        old, new = dav_path(old), dav_path(new)
        if dav_below(new, old):
            raise InvalidData(f"{new} is {old} or below it")
        return await self._write(account, self._move, old, new)

    def _move(self, conn, aid, old, new):
        if self._get(conn, aid, old) is None:
            raise NotFound(f"no node {old}")
        if self._get(conn, aid, new) is not None:
            raise AlreadyExists(f"{new} exists")
        self._check_parent(conn, aid, new)
        for path in self._subtree(conn, aid, old):
            moved = new + path[len(old):]
            conn.execute(self._sql_rename, (moved, dav_parent(moved) or "", aid, path))
        return self._get(conn, aid, new)
