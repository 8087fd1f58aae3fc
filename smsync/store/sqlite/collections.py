"""``ICollectionStore`` and ``ICollection`` over SQLite: calendars, address books, task
and note lists.

Each collection has one revision counter; every write bumps it once and stamps the item
(or the tombstone it leaves) with the new value, so ``changes_since`` is an index range
scan. Calendar instances are kept in ``spans`` so ``time_range`` is an index query too;
only items whose recurrence was not expanded as far as the asked range are parsed.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import OrderedDict
from datetime import datetime

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
    check_properties,
    collection_components,
    collection_kind,
    etag_matches,
    make_etag,
    summarize_item,
    new_id,
    normalize_collection_name,
    normalize_item_name,
)
from smsync.store.sqlite.schema import SHORT_SPAN
from smsync.store.sqlite.timerange import matching_items

_ITEM_COLS = "name, uid, etag, revision, size, component"


def item_info(row) -> ItemInfo:
    return ItemInfo(*row)


def collection_info(row) -> CollectionInfo:
    cid, name, kind, components, properties, revision, count = row
    return CollectionInfo(
        cid,
        name,
        CollectionKind(kind),
        frozenset(components.split()),
        json.loads(properties),
        revision,
        count,
    )


_COLL_COLS = "cid, name, kind, components, properties, revision, n_items"


class ListingCache:
    """Whole listings of the largest collections read lately, per database.

    A DAV or EAS client lists a calendar of thousands of items at every full sync and
    PROPFIND; reading and building those rows again is most of the answer's cost. A
    listing is valid exactly while its collection's revision is the one it was read at
    (every write bumps it in the same transaction, in this process or another), so a
    reader compares revisions inside its own read transaction and never sees a stale
    listing. Keyed by row id *and* collection id: a row id can be reused after a
    collection is deleted.
    """

    #: Smaller collections are read from SQLite every time (it is quick for them).
    MIN_ITEMS = 256
    #: Most items kept over all listings of one database.
    MAX_ITEMS = 200_000

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: OrderedDict = OrderedDict()
        self._size = 0

    def get(self, key, revision):
        """``[by name, by revision]`` listings of ``key`` at ``revision``, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != revision:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key, revision, by_name: tuple) -> list:
        lists = [by_name, None]
        if len(by_name) < self.MIN_ITEMS:
            return lists
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old[1][0])
            self._entries[key] = (revision, lists)
            self._size += len(by_name)
            while self._size > self.MAX_ITEMS and len(self._entries) > 1:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._size -= len(dropped[0])
        return lists


_LISTINGS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LISTINGS_LOCK = threading.Lock()


def listing_cache(db) -> ListingCache:
    with _LISTINGS_LOCK:
        cache = _LISTINGS.get(db)
        if cache is None:
            cache = _LISTINGS[db] = ListingCache()
        return cache


def create_collection_row(conn, account_id, name, kind, components, properties) -> CollectionInfo:
    cid = new_id()
    conn.execute(
        "INSERT INTO collections (cid, account_id, name, kind, components, properties)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (cid, account_id, name, kind.value, " ".join(sorted(components)), json.dumps(properties)),
    )
    return CollectionInfo(cid, name, kind, frozenset(components), dict(properties), 0, 0)


def delete_collection_rows(conn, pk: int) -> None:
    conn.execute("DELETE FROM spans WHERE collection_id = ?", (pk,))
    conn.execute("DELETE FROM items WHERE collection_id = ?", (pk,))
    conn.execute("DELETE FROM tombstones WHERE collection_id = ?", (pk,))
    conn.execute("DELETE FROM collections WHERE id = ?", (pk,))


@implementer(ICollectionStore)
class SQLiteCollectionStore:
    def __init__(self, store, account: str, account_id: int):
        self._store = store
        self._db = store.db
        self._aid = account_id
        self.account = account

    def _check_account(self, conn):
        if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (self._aid,)).fetchone() is None:
            raise NotFound(f"account {self.account} no longer exists")

    @deferred
    async def list_collections(self, kind=None):
        if kind is not None:
            kind = CollectionKind(kind)
        return await self._db.read(self._list, kind)

    def _list(self, conn, kind):
        self._check_account(conn)
        sql = f"SELECT {_COLL_COLS} FROM collections WHERE account_id = ?"
        args = [self._aid]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind.value)
        return [collection_info(r) for r in conn.execute(sql + " ORDER BY name", args)]

    async def _find(self, column, value):
        row = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT id, cid FROM collections WHERE account_id = ? AND {column} = ?",
                (self._aid, value),
            ).fetchone()
        )
        if row is None:
            raise NotFound(f"no collection {value!r}")
        return SQLiteCollection(self._store, self.account, *row)

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
        self._check_account(conn)
        if conn.execute(
            "SELECT 1 FROM collections WHERE account_id = ? AND name = ?", (self._aid, name)
        ).fetchone():
            raise AlreadyExists(f"collection {name!r} exists")
        info = create_collection_row(conn, self._aid, name, kind, components, properties)
        ctx.event(self.account, ChangeKind.HIERARCHY)
        return info

    @deferred
    async def rename_collection(self, old, new):
        new = normalize_collection_name(new)
        return await self._db.write(self._rename, old, new)

    def _rename(self, conn, ctx, old, new):
        self._check_account(conn)
        row = conn.execute(
            "SELECT id FROM collections WHERE account_id = ? AND name = ?", (self._aid, old)
        ).fetchone()
        if row is None:
            raise NotFound(f"no collection {old!r}")
        if conn.execute(
            "SELECT 1 FROM collections WHERE account_id = ? AND name = ?", (self._aid, new)
        ).fetchone():
            raise AlreadyExists(f"collection {new!r} exists")
        conn.execute("UPDATE collections SET name = ? WHERE id = ?", (new, row[0]))
        ctx.event(self.account, ChangeKind.HIERARCHY)

    @deferred
    async def delete_collection(self, name):
        return await self._db.write(self._delete, name)

    def _delete(self, conn, ctx, name):
        self._check_account(conn)
        row = conn.execute(
            "SELECT id FROM collections WHERE account_id = ? AND name = ?", (self._aid, name)
        ).fetchone()
        if row is None:
            raise NotFound(f"no collection {name!r}")
        delete_collection_rows(conn, row[0])
        ctx.event(self.account, ChangeKind.HIERARCHY)


@implementer(ICollection)
class SQLiteCollection:
    """Handle on one collection; every method reads the current state."""

    def __init__(self, store, account: str, pk: int, cid: str):
        self._store = store
        self._db = store.db
        self._pk = pk
        self.id = cid
        self.account = account

    def __repr__(self):
        return f"<SQLiteCollection {self.account} {self.id}>"

    def _row(self, conn):
        """``(name, components, revision, account)``; NotFound if the collection is gone."""
        row = conn.execute(
            "SELECT c.name, c.components, c.revision, a.name FROM collections c"
            " JOIN accounts a ON a.id = c.account_id WHERE c.id = ?",
            (self._pk,),
        ).fetchone()
        if row is None:
            raise NotFound("collection no longer exists")
        return row

    @deferred
    async def info(self):
        return await self._db.read(self._info)

    def _info(self, conn):
        row = conn.execute(f"SELECT {_COLL_COLS} FROM collections WHERE id = ?", (self._pk,))
        row = row.fetchone()
        if row is None:
            raise NotFound("collection no longer exists")
        return collection_info(row)

    @deferred
    async def set_properties(self, changes):
        check_properties(changes)
        return await self._db.write(self._set_properties, dict(changes))

    def _set_properties(self, conn, ctx, changes):
        name, _, _, account = self._row(conn)
        (text,) = conn.execute(
            "SELECT properties FROM collections WHERE id = ?", (self._pk,)
        ).fetchone()
        props = json.loads(text)
        for key, value in changes.items():
            if value is None:
                props.pop(key, None)
            else:
                props[key] = value
        conn.execute(
            "UPDATE collections SET properties = ? WHERE id = ?", (json.dumps(props), self._pk)
        )
        ctx.event(account, ChangeKind.HIERARCHY)
        return self._info(conn)

    @deferred
    async def items(self):
        return await self._db.read(self._items)

    def _items(self, conn):
        return list(self._listing(conn)[0])

    def _listing(self, conn) -> list:
        """``[items by name, items by (revision, name) or None]`` as of this read
        transaction, from the listing cache when the revision still matches."""
        revision = self._row(conn)[2]
        cache = listing_cache(self._db)
        lists = cache.get((self._pk, self.id), revision)
        if lists is None:
            by_name = tuple(
                item_info(r)
                for r in conn.execute(
                    f"SELECT {_ITEM_COLS} FROM items WHERE collection_id = ? ORDER BY name",
                    (self._pk,),
                )
            )
            lists = cache.put((self._pk, self.id), revision, by_name)
        return lists

    @deferred
    async def get(self, names):
        return await self._db.read(self._get, list(names))

    def _get(self, conn, names):
        self._row(conn)
        found = {}
        for i in range(0, len(names), 500):
            chunk = names[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT {_ITEM_COLS}, content FROM items"
                f" WHERE collection_id = ? AND name IN ({marks})",
                (self._pk, *chunk),
            ):
                found[row[0]] = Item(item_info(row[:6]), row[6])
        return [found[n] for n in names if n in found]

    @deferred
    async def get_by_uid(self, uid):
        row = await self._db.read(self._get_by_uid, uid)
        if row is None:
            raise NotFound(f"no item with UID {uid!r}")
        return Item(item_info(row[:6]), row[6])

    def _get_by_uid(self, conn, uid):
        self._row(conn)
        return conn.execute(
            f"SELECT {_ITEM_COLS}, content FROM items WHERE collection_id = ? AND uid = ?",
            (self._pk, uid),
        ).fetchone()

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
        self._db.iopool.callInThread(
            self._put_pipeline, d, name, content, if_match, if_none_match
        )
        return await d

    def _put_pipeline(self, d, name, content, if_match, if_none_match):
        try:
            summary = summarize_item(content)
        except Exception:
            self._db.reactor.callFromThread(d.errback, Failure())
            return
        self._db.submit(self._put, (name, content, summary, if_match, if_none_match), d)

    def _put(self, conn, ctx, name, content, summary: ItemSummary, if_match, if_none_match):
        cname, components, revision, account = self._row(conn)
        if summary.component not in components.split():
            raise UnsupportedComponent(f"this collection does not take {summary.component}")
        existing = conn.execute(
            "SELECT id, etag FROM items WHERE collection_id = ? AND name = ?", (self._pk, name)
        ).fetchone()
        current_etag = existing[1] if existing else None
        if if_none_match and existing is not None:
            raise PreconditionFailed("item exists", current_etag)
        if if_match is not None and (
            not etag_matches(current_etag, if_match)
        ):
            raise PreconditionFailed("etag does not match", current_etag)
        other = conn.execute(
            "SELECT name FROM items WHERE collection_id = ? AND uid = ? AND name != ?",
            (self._pk, summary.uid, name),
        ).fetchone()
        if other is not None:
            raise UidConflict(summary.uid, other[0])
        revision += 1
        etag = make_etag(content)
        conn.execute("UPDATE collections SET revision = ? WHERE id = ?", (revision, self._pk))
        values = (
            summary.uid, etag, revision, len(content), summary.component, content,
            summary.expanded_until,
        )
        if existing is not None:
            item_id = existing[0]
            conn.execute(
                "UPDATE items SET uid = ?, etag = ?, revision = ?, size = ?, component = ?,"
                " content = ?, expanded_until = ? WHERE id = ?",
                (*values, item_id),
            )
            conn.execute("DELETE FROM spans WHERE item_id = ?", (item_id,))
        else:
            item_id = conn.execute(
                "INSERT INTO items (collection_id, name, uid, etag, revision, size, component,"
                " content, expanded_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self._pk, name, *values),
            ).lastrowid
            conn.execute(
                "DELETE FROM tombstones WHERE collection_id = ? AND name = ?", (self._pk, name)
            )
        if summary.spans:
            conn.executemany(
                "INSERT INTO spans (collection_id, long, start, end, item_id) VALUES (?, ?, ?, ?, ?)",
                [(self._pk, (e - s) > SHORT_SPAN, s, e, item_id) for s, e in summary.spans],
            )
        ctx.event(account, ChangeKind.COLLECTION, cname, revision, self.id)
        return ItemInfo(name, summary.uid, etag, revision, len(content), summary.component)

    @deferred
    async def delete(self, name, if_match=None):
        return await self._db.write(self._delete, name, if_match)

    def _delete(self, conn, ctx, name, if_match):
        cname, _, revision, account = self._row(conn)
        row = conn.execute(
            "SELECT id, etag FROM items WHERE collection_id = ? AND name = ?", (self._pk, name)
        ).fetchone()
        if row is None:
            raise NotFound(f"no item {name!r}")
        if if_match is not None and not etag_matches(row[1], if_match):
            raise PreconditionFailed("etag does not match", row[1])
        revision += 1
        conn.execute("UPDATE collections SET revision = ? WHERE id = ?", (revision, self._pk))
        conn.execute("DELETE FROM items WHERE id = ?", (row[0],))
        conn.execute(
            "INSERT OR REPLACE INTO tombstones (collection_id, name, revision) VALUES (?, ?, ?)",
            (self._pk, name, revision),
        )
        ctx.event(account, ChangeKind.COLLECTION, cname, revision, self.id)
        return revision

    @deferred
    async def changes_since(self, revision, limit=None):
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise InvalidData("limit must be a positive integer")
        if isinstance(revision, bool) or not isinstance(revision, int):
            raise SyncTokenInvalid(f"not a revision: {revision!r}")
        return await self._db.read(self._changes_since, revision, limit)

    def _changes_since(self, conn, since, limit):
        _, _, current, _ = self._row(conn)
        if since > current or since < 0:
            raise SyncTokenInvalid(f"revision {since} is not one of this collection's")
        if since == 0 and limit is None:
            # Everything there is (a first sync): the listing, in change-log order.
            lists = self._listing(conn)
            if lists[1] is None:
                lists[1] = tuple(sorted(lists[0], key=lambda i: (i.revision, i.name)))
            return CollectionChanges(current, lists[1], (), False)
        cap = "" if limit is None else f" LIMIT {int(limit) + 1}"
        entries = [
            (r[3], r[0], item_info(r))
            for r in conn.execute(
                f"SELECT {_ITEM_COLS} FROM items WHERE collection_id = ? AND revision > ?"
                f" ORDER BY revision, name{cap}",
                (self._pk, since),
            )
        ]
        if since > 0:
            entries += [
                (rev, name, None)
                for name, rev in conn.execute(
                    "SELECT name, revision FROM tombstones WHERE collection_id = ?"
                    f" AND revision > ? ORDER BY revision, name{cap}",
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
        return [
            item_info(r) for r in matching_items(conn, self._pk, start, end, components)
        ]
