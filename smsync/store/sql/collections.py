"""``ICollectionStore`` and ``ICollection`` over SQL: calendars, address books, task and
note lists.

Each collection has one revision counter; every write locks the collection's row (where
the dialect has row locks), bumps the counter once and stamps the item (or the
tombstone it leaves) with the new value, so ``changes_since`` is an index range scan.
Because the lock is taken before the item's etag is read, an ``if_match`` put or delete
racing another writer -- in this process or another -- sees that writer's commit and is
refused, never silently overwrites it. Calendar instances are kept in ``spans`` so
``time_range`` is an index query too; only items whose recurrence was not expanded as
far as the asked range are parsed.

A backend subclasses ``SQLCollectionStore`` and ``SQLCollection``, names its dialect and
fills in the hooks of ``SQLCollection`` (what its schema keeps differently).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Optional

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import (
    AlreadyExists,
    InvalidData,
    NotFound,
    PreconditionFailed,
    SyncTokenInvalid,
    UidConflict,
    UnsupportedComponent,
)
from smsync.interfaces import ICollection, ICollectionStore
from smsync.model import (
    ChangeKind,
    CollectionChanges,
    CollectionInfo,
    CollectionKind,
    Item,
    ItemInfo,
)
from smsync.store.common import (
    ItemSummary,
    check_change_limit,
    check_properties,
    collection_components,
    collection_kind,
    etag_matches,
    make_etag,
    new_id,
    normalize_collection_name,
    normalize_item_name,
    summarize_item,
)
from smsync.store.sql.dialect import Dialect
from smsync.store.sql.handles import AccountPart, RowHandle

ITEM_COLS = "name, uid, etag, revision, size, component"
COLL_COLS = "cid, name, kind, components, properties, revision, n_items"
_MAX_REVISION = (1 << 63) - 1


def item_info(row) -> ItemInfo:
    return ItemInfo(*row)


def collection_info(row) -> CollectionInfo:
    cid, name, kind, components, properties, revision, count = row
    return CollectionInfo(
        cid, name, CollectionKind(kind), frozenset(components.split()), json.loads(properties),
        revision, count,
    )


def insert_collection_row(
    conn, dialect: Dialect, account_id: int, name, kind, components, properties
) -> Optional[CollectionInfo]:
    """Insert a collection; its ``CollectionInfo``, or None if the account has one of
    that name already."""
    cid = new_id()
    row = conn.execute(
        dialect.q(
            "INSERT INTO collections (cid, account_id, name, kind, components, properties)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, name) DO NOTHING RETURNING id"
        ),
        (cid, account_id, name, kind.value, " ".join(sorted(components)), json.dumps(properties)),
    ).fetchone()
    if row is None:
        return None
    return CollectionInfo(cid, name, kind, frozenset(components), dict(properties), 0, 0)


def delete_collection_rows(conn, dialect: Dialect, pk: int) -> None:
    """Delete collection ``pk`` with its items, spans and tombstones."""
    if dialect.update_lock:
        conn.execute(dialect.q("SELECT 1 FROM collections WHERE id = ?" + dialect.update_lock), (pk,))
    conn.execute(dialect.q("DELETE FROM spans WHERE collection_id = ?"), (pk,))
    conn.execute(dialect.q("DELETE FROM items WHERE collection_id = ?"), (pk,))
    conn.execute(dialect.q("DELETE FROM tombstones WHERE collection_id = ?"), (pk,))
    conn.execute(dialect.q("DELETE FROM collections WHERE id = ?"), (pk,))


@implementer(ICollectionStore)
class SQLCollectionStore(AccountPart):
    """One account's collections; ``account_id`` is the account's row id. A backend sets
    ``dialect`` and ``collection_class``."""

    collection_class: type

    @deferred
    async def list_collections(self, kind=None):
        if kind is not None:
            kind = collection_kind(kind)
        return await self._db.read(self._list, kind)

    def _list(self, conn, kind):
        self._check_account(conn)
        sql = f"SELECT {COLL_COLS} FROM collections WHERE account_id = ?"
        args = [self._aid]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind.value)
        sql += " ORDER BY name" + self.dialect.binary_order
        return [collection_info(r) for r in conn.execute(self._q(sql), args)]

    async def _find(self, column, value):
        if not isinstance(value, str):
            raise NotFound(f"no collection {value!r}")
        return await super()._find(
            f"SELECT id, cid FROM collections WHERE account_id = ? AND {column} = ?",
            value, f"no collection {value!r}", self.collection_class,
        )

    @deferred
    async def collection(self, name):
        return await self._find("name", name)

    @deferred
    async def collection_by_id(self, collection_id):
        return await self._find("cid", str(collection_id))

    @deferred
    async def create_collection(self, name, kind, components=None, properties=None):
        name = normalize_collection_name(name)
        kind = collection_kind(kind)
        components = collection_components(kind, components)
        properties = {k: v for k, v in check_properties(properties).items() if v is not None}
        return await self._db.write(self._create, name, kind, components, properties)

    def _create(self, conn, ctx, name, kind, components, properties):
        self._check_account(conn, lock=True)
        info = insert_collection_row(
            conn, self.dialect, self._aid, name, kind, components, properties
        )
        if info is None:
            raise AlreadyExists(f"collection {name!r} exists")
        ctx.event(self.account, ChangeKind.HIERARCHY)
        return info

    @deferred
    async def rename_collection(self, old, new):
        new = normalize_collection_name(new)
        return await self._db.write(self._rename, old, new)

    def _named(self, conn, name, lock=False):
        return conn.execute(
            self._q(
                "SELECT id FROM collections WHERE account_id = ? AND name = ?"
                + (self.dialect.update_lock if lock else "")
            ),
            (self._aid, name),
        ).fetchone()

    def _rename(self, conn, ctx, old, new):
        self._check_account(conn, lock=True)
        row = self._named(conn, old, lock=True)
        if row is None:
            raise NotFound(f"no collection {old!r}")
        if self._named(conn, new):
            raise AlreadyExists(f"collection {new!r} exists")
        conn.execute(self._q("UPDATE collections SET name = ? WHERE id = ?"), (new, row[0]))
        ctx.event(self.account, ChangeKind.HIERARCHY)

    @deferred
    async def delete_collection(self, name):
        return await self._db.write(self._delete, name)

    def _delete(self, conn, ctx, name):
        self._check_account(conn, lock=True)
        row = self._named(conn, name)
        if row is None:
            raise NotFound(f"no collection {name!r}")
        delete_collection_rows(conn, self.dialect, row[0])
        ctx.event(self.account, ChangeKind.HIERARCHY)


@implementer(ICollection)
class SQLCollection(RowHandle):
    """Handle on one collection; every method reads the current state.

    A backend sets ``dialect`` and ``counts_items`` and fills in the hooks
    (``_insert_spans``, ``_matching_items``); it may override ``_items``, ``_named_items``
    and ``_first_sync`` where it has a faster way.
    """

    # Hooks.

    def _insert_spans(self, conn, item_id: int, spans) -> None:
        """Insert the ``(start, end)`` epoch-second instances of item ``item_id``."""
        raise NotImplementedError

    def _matching_items(self, conn, start, end, components) -> list:
        """Rows in ``ITEM_COLS`` of the items with an instance in ``[start, end)``."""
        raise NotImplementedError

    def _first_sync(self, conn, current: int) -> Optional[CollectionChanges]:
        """Every item as of revision ``current``, in change-log order, if the backend has
        a faster way than the change-log query; else None."""
        return None

    # Reads.

    def _row(self, conn, lock=False):
        """``(name, components, revision, account)``; NotFound if the collection is gone.
        ``lock`` takes the collection's row lock: every write does, before reading."""
        row = conn.execute(
            self._q(
                "SELECT c.name, c.components, c.revision, a.name FROM collections c"
                " JOIN accounts a ON a.id = c.account_id WHERE c.id = ?"
                + (self.dialect.update_lock_of.format("c") if lock else "")
            ),
            (self._pk,),
        ).fetchone()
        if row is None:
            raise NotFound("collection no longer exists")
        return row

    @deferred
    async def info(self):
        return await self._db.read(self._info)

    def _info(self, conn):
        row = conn.execute(
            self._q(f"SELECT {COLL_COLS} FROM collections WHERE id = ?"), (self._pk,)
        ).fetchone()
        if row is None:
            raise NotFound("collection no longer exists")
        return collection_info(row)

    @deferred
    async def set_properties(self, changes):
        check_properties(changes)
        return await self._db.write(self._set_properties, dict(changes))

    def _set_properties(self, conn, ctx, changes):
        _, _, _, account = self._row(conn, lock=True)
        (text,) = conn.execute(
            self._q("SELECT properties FROM collections WHERE id = ?"), (self._pk,)
        ).fetchone()
        props = json.loads(text)
        for key, value in changes.items():
            if value is None:
                props.pop(key, None)
            else:
                props[key] = value
        conn.execute(
            self._q("UPDATE collections SET properties = ? WHERE id = ?"),
            (json.dumps(props), self._pk),
        )
        ctx.event(account, ChangeKind.HIERARCHY)
        return self._info(conn)

    @deferred
    async def items(self):
        return await self._db.read(self._items)

    def _items(self, conn):
        self._row(conn)
        return [
            item_info(r)
            for r in conn.execute(
                self._q(
                    f"SELECT {ITEM_COLS} FROM items WHERE collection_id = ?"
                    " ORDER BY name" + self.dialect.binary_order
                ),
                (self._pk,),
            )
        ]

    @deferred
    async def get(self, names):
        names = list(names)
        if not all(isinstance(n, str) for n in names):
            raise InvalidData("item names are strings")
        return await self._db.read(self._get, names)

    def _get(self, conn, names):
        self._row(conn)
        found = {row[0]: Item(item_info(row[:6]), row[6]) for row in self._named_items(conn, names)}
        return [found[n] for n in names if n in found]

    def _named_items(self, conn, names: list) -> list:
        """Rows in ``ITEM_COLS`` plus content of the items called one of ``names``."""
        rows = []
        for i in range(0, len(names), 500):
            chunk = names[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows += conn.execute(
                self._q(
                    f"SELECT {ITEM_COLS}, content FROM items"
                    f" WHERE collection_id = ? AND name IN ({marks})"
                ),
                (self._pk, *chunk),
            ).fetchall()
        return rows

    @deferred
    async def get_by_uid(self, uid):
        if not isinstance(uid, str):
            raise NotFound(f"no item with UID {uid!r}")
        row = await self._db.read(self._get_by_uid, uid)
        if row is None:
            raise NotFound(f"no item with UID {uid!r}")
        return Item(item_info(row[:6]), row[6])

    def _get_by_uid(self, conn, uid):
        self._row(conn)
        return conn.execute(
            self._q(f"SELECT {ITEM_COLS}, content FROM items WHERE collection_id = ? AND uid = ?"),
            (self._pk, uid),
        ).fetchone()

    # Writes.

    def _bump(self, conn, revision: int, added: int) -> None:
        """Give the collection ``revision`` after ``added`` items came (or went)."""
        conn.execute(
            self._q("UPDATE collections SET revision = ?, n_items = n_items + ? WHERE id = ?"),
            (revision, added if self.counts_items else 0, self._pk),
        )

    @deferred
    async def put(self, name, content, if_match=None, if_none_match=False):
        name = normalize_item_name(name)
        if isinstance(content, (bytearray, memoryview)):
            content = bytes(content)
        if not isinstance(content, bytes):
            raise InvalidData("item content must be bytes")
        # Validated on an I/O thread that queues the write itself: no reactor round trip
        # between parsing and the group commit.
        d = Deferred()
        self._db.iopool.callInThread(self._put_pipeline, d, name, content, if_match, if_none_match)
        return await d

    def _put_pipeline(self, d, name, content, if_match, if_none_match):
        try:
            summary = summarize_item(content)
        except Exception:
            self._db.reactor.callFromThread(d.errback, Failure())
            return
        self._db.submit(self._put, (name, content, summary, if_match, if_none_match), d)

    def _put(self, conn, ctx, name, content, summary: ItemSummary, if_match, if_none_match):
        q = self._q
        cname, components, revision, account = self._row(conn, lock=True)
        if summary.component not in components.split():
            raise UnsupportedComponent(f"this collection does not take {summary.component}")
        existing = conn.execute(
            q("SELECT id, etag FROM items WHERE collection_id = ? AND name = ?"), (self._pk, name)
        ).fetchone()
        current_etag = existing[1] if existing else None
        if if_none_match and existing is not None:
            raise PreconditionFailed("item exists", current_etag)
        if if_match is not None and not etag_matches(current_etag, if_match):
            raise PreconditionFailed("etag does not match", current_etag)
        other = conn.execute(
            q("SELECT name FROM items WHERE collection_id = ? AND uid = ? AND name != ? LIMIT 1"),
            (self._pk, summary.uid, name),
        ).fetchone()
        if other is not None:
            raise UidConflict(summary.uid, other[0])
        revision += 1
        etag = make_etag(content)
        self._bump(conn, revision, 0 if existing is not None else 1)
        values = (
            summary.uid, etag, revision, len(content), summary.component, content,
            summary.expanded_until,
        )
        if existing is not None:
            item_id = existing[0]
            conn.execute(
                q(
                    "UPDATE items SET uid = ?, etag = ?, revision = ?, size = ?, component = ?,"
                    " content = ?, expanded_until = ? WHERE id = ?"
                ),
                (*values, item_id),
            )
            conn.execute(q("DELETE FROM spans WHERE item_id = ?"), (item_id,))
        else:
            (item_id,) = conn.execute(
                q(
                    "INSERT INTO items (collection_id, name, uid, etag, revision, size, component,"
                    " content, expanded_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
                ),
                (self._pk, name, *values),
            ).fetchone()
            conn.execute(
                q("DELETE FROM tombstones WHERE collection_id = ? AND name = ?"), (self._pk, name)
            )
        if summary.spans:
            self._insert_spans(conn, item_id, summary.spans)
        ctx.event(account, ChangeKind.COLLECTION, cname, revision, self.id)
        return ItemInfo(name, summary.uid, etag, revision, len(content), summary.component)

    @deferred
    async def delete(self, name, if_match=None):
        if not isinstance(name, str):
            raise NotFound(f"no item {name!r}")
        return await self._db.write(self._delete, name, if_match)

    def _delete(self, conn, ctx, name, if_match):
        q = self._q
        cname, _, revision, account = self._row(conn, lock=True)
        row = conn.execute(
            q("SELECT id, etag FROM items WHERE collection_id = ? AND name = ?"), (self._pk, name)
        ).fetchone()
        if row is None:
            raise NotFound(f"no item {name!r}")
        if if_match is not None and not etag_matches(row[1], if_match):
            raise PreconditionFailed("etag does not match", row[1])
        revision += 1
        self._bump(conn, revision, -1)
        conn.execute(q("DELETE FROM spans WHERE item_id = ?"), (row[0],))
        conn.execute(q("DELETE FROM items WHERE id = ?"), (row[0],))
        conn.execute(
            q(
                "INSERT INTO tombstones (collection_id, name, revision) VALUES (?, ?, ?)"
                " ON CONFLICT (collection_id, name) DO UPDATE SET revision = excluded.revision"
            ),
            (self._pk, name, revision),
        )
        ctx.event(account, ChangeKind.COLLECTION, cname, revision, self.id)
        return revision

    # Changes.

    @deferred
    async def changes_since(self, revision, limit=None):
        check_change_limit(limit)
        if isinstance(revision, bool) or not isinstance(revision, int):
            raise SyncTokenInvalid(f"not a revision: {revision!r}")
        if not 0 <= revision <= _MAX_REVISION:
            raise SyncTokenInvalid(f"revision {revision} is not one of this collection's")
        return await self._db.read(self._changes_since, revision, limit)

    def _changes_since(self, conn, since, limit):
        _, _, current, _ = self._row(conn)
        if since > current:
            raise SyncTokenInvalid(f"revision {since} is not one of this collection's")
        if since == 0 and limit is None:
            changes = self._first_sync(conn, current)
            if changes is not None:
                return changes
        cap = "" if limit is None else f" LIMIT {int(limit) + 1}"
        order = " ORDER BY revision, name" + self.dialect.binary_order + cap
        entries = [
            (r[3], r[0], item_info(r))
            for r in conn.execute(
                self._q(f"SELECT {ITEM_COLS} FROM items WHERE collection_id = ? AND revision > ?")
                + order,
                (self._pk, since),
            )
        ]
        if since > 0:
            entries += [
                (rev, name, None)
                for name, rev in conn.execute(
                    self._q(
                        "SELECT name, revision FROM tombstones WHERE collection_id = ?"
                        " AND revision > ?"
                    )
                    + order,
                    (self._pk, since),
                )
            ]
            entries.sort(key=lambda e: (e[0], e[1]))
        truncated = False
        upto = current
        if limit is not None and len(entries) > limit:
            truncated = True
            upto = entries[limit - 1][0]
            keep = entries[:limit]
            if entries[limit][0] == upto:
                # Never split one revision across answers: stop before it, unless it is
                # all there is (then the answer exceeds the limit rather than stalling).
                before = [e for e in keep if e[0] < upto]
                if before:
                    keep, upto = before, before[-1][0]
                else:
                    keep = [e for e in entries if e[0] == upto]
            entries = keep
        return CollectionChanges(
            upto,
            tuple(e[2] for e in entries if e[2] is not None),
            tuple(e[1] for e in entries if e[2] is None),
            truncated,
        )

    @deferred
    async def time_range(self, start, end, components=None):
        for bound in (start, end):
            if bound is not None and not isinstance(bound, datetime):
                raise InvalidData("time-range bounds are datetimes or None")
        if components is not None:
            components = frozenset(str(c).upper() for c in components)
        return await self._db.read(self._time_range, start, end, components)

    def _time_range(self, conn, start, end, components):
        self._row(conn)
        return [item_info(r) for r in self._matching_items(conn, start, end, components)]
