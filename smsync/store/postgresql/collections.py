"""``ICollectionStore`` and ``ICollection`` over PostgreSQL: calendars, address books,
task and note lists.

Each collection has one revision counter; every write locks the collection's row, bumps
the counter once and stamps the item (or the tombstone it leaves) with the new value, so
``changes_since`` is an index range scan. Because the lock is taken before the item's
etag is read, an ``if_match`` put or delete racing another writer -- in this process or
another -- sees that writer's commit and is refused, never silently overwrites it.
Calendar instances are kept in ``spans`` so ``time_range`` is an index query too.
"""

from __future__ import annotations

import json
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
    new_id,
    normalize_collection_name,
    normalize_item_name,
    summarize_item,
)
from smsync.store.postgresql.schema import SHORT_SPAN
from smsync.store.postgresql.timerange import matching_items

_ITEM_COLS = "name, uid, etag, revision, size, component"
_COLL_COLS = "cid, name, kind, components, properties, revision, n_items"
_MAX_REVISION = (1 << 63) - 1


def item_info(row) -> ItemInfo:
    return ItemInfo(*row)


def collection_info(row) -> CollectionInfo:
    cid, name, kind, components, properties, revision, count = row
    return CollectionInfo(
        cid, name, CollectionKind(kind), frozenset(components.split()), json.loads(properties),
        revision, count,
    )


def delete_collection_rows(conn, pk: int) -> None:
    conn.execute("SELECT 1 FROM collections WHERE id = %s FOR UPDATE", (pk,))
    conn.execute("DELETE FROM spans WHERE collection_id = %s", (pk,))
    conn.execute("DELETE FROM items WHERE collection_id = %s", (pk,))
    conn.execute("DELETE FROM tombstones WHERE collection_id = %s", (pk,))
    conn.execute("DELETE FROM collections WHERE id = %s", (pk,))


@implementer(ICollectionStore)
class PGCollectionStore:
    def __init__(self, store, account: str, account_id: int):
        self._store = store
        self._db = store.db
        self._aid = account_id
        self.account = account

    def _check_account(self, conn, lock=False):
        sql = "SELECT 1 FROM accounts WHERE id = %s" + (" FOR UPDATE" if lock else "")
        if conn.execute(sql, (self._aid,)).fetchone() is None:
            raise NotFound(f"account {self.account} no longer exists")

    @deferred
    async def list_collections(self, kind=None):
        if kind is not None:
            kind = collection_kind(kind)
        return await self._db.read(self._list, kind)

    def _list(self, conn, kind):
        self._check_account(conn)
        sql = f"SELECT {_COLL_COLS} FROM collections WHERE account_id = %s"
        args = [self._aid]
        if kind is not None:
            sql += " AND kind = %s"
            args.append(kind.value)
        return [collection_info(r) for r in conn.execute(sql + ' ORDER BY name COLLATE "C"', args)]

    async def _find(self, column, value):
        if not isinstance(value, str):
            raise NotFound(f"no collection {value!r}")
        row = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT id, cid FROM collections WHERE account_id = %s AND {column} = %s",
                (self._aid, value),
            ).fetchone()
        )
        if row is None:
            raise NotFound(f"no collection {value!r}")
        return PGCollection(self._store, self.account, *row)

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
        cid = new_id()
        row = conn.execute(
            "INSERT INTO collections (cid, account_id, name, kind, components, properties)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (account_id, name) DO NOTHING RETURNING id",
            (cid, self._aid, name, kind.value, " ".join(sorted(components)), json.dumps(properties)),
        ).fetchone()
        if row is None:
            raise AlreadyExists(f"collection {name!r} exists")
        ctx.event(self.account, ChangeKind.HIERARCHY)
        return CollectionInfo(cid, name, kind, frozenset(components), dict(properties), 0, 0)

    @deferred
    async def rename_collection(self, old, new):
        new = normalize_collection_name(new)
        return await self._db.write(self._rename, old, new)

    def _rename(self, conn, ctx, old, new):
        self._check_account(conn, lock=True)
        row = conn.execute(
            "SELECT id FROM collections WHERE account_id = %s AND name = %s FOR UPDATE",
            (self._aid, old),
        ).fetchone()
        if row is None:
            raise NotFound(f"no collection {old!r}")
        if conn.execute(
            "SELECT 1 FROM collections WHERE account_id = %s AND name = %s", (self._aid, new)
        ).fetchone():
            raise AlreadyExists(f"collection {new!r} exists")
        conn.execute("UPDATE collections SET name = %s WHERE id = %s", (new, row[0]))
        ctx.event(self.account, ChangeKind.HIERARCHY)

    @deferred
    async def delete_collection(self, name):
        return await self._db.write(self._delete, name)

    def _delete(self, conn, ctx, name):
        self._check_account(conn, lock=True)
        row = conn.execute(
            "SELECT id FROM collections WHERE account_id = %s AND name = %s", (self._aid, name)
        ).fetchone()
        if row is None:
            raise NotFound(f"no collection {name!r}")
        delete_collection_rows(conn, row[0])
        ctx.event(self.account, ChangeKind.HIERARCHY)


@implementer(ICollection)
class PGCollection:
    """Handle on one collection; every method reads the current state."""

    def __init__(self, store, account: str, pk: int, cid: str):
        self._store = store
        self._db = store.db
        self._pk = pk
        self.id = cid
        self.account = account

    def __repr__(self):
        return f"<PGCollection {self.account} {self.id}>"

    def _row(self, conn, lock=False):
        """``(name, components, revision, account)``; NotFound if the collection is gone.
        ``lock`` takes the collection's row lock: every write does, before reading."""
        row = conn.execute(
            "SELECT c.name, c.components, c.revision, a.name FROM collections c"
            " JOIN accounts a ON a.id = c.account_id WHERE c.id = %s"
            + (" FOR UPDATE OF c" if lock else ""),
            (self._pk,),
        ).fetchone()
        if row is None:
            raise NotFound("collection no longer exists")
        return row

    @deferred
    async def info(self):
        return await self._db.read(self._info)

    def _info(self, conn):
        row = conn.execute(f"SELECT {_COLL_COLS} FROM collections WHERE id = %s", (self._pk,)).fetchone()
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
            "SELECT properties FROM collections WHERE id = %s", (self._pk,)
        ).fetchone()
        props = json.loads(text)
        for key, value in changes.items():
            if value is None:
                props.pop(key, None)
            else:
                props[key] = value
        conn.execute(
            "UPDATE collections SET properties = %s WHERE id = %s", (json.dumps(props), self._pk)
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
                f'SELECT {_ITEM_COLS} FROM items WHERE collection_id = %s ORDER BY name COLLATE "C"',
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
        found = {
            row[0]: Item(item_info(row[:6]), row[6])
            for row in conn.execute(
                f"SELECT {_ITEM_COLS}, content FROM items WHERE collection_id = %s AND name = ANY(%s)",
                (self._pk, names),
            )
        }
        return [found[n] for n in names if n in found]

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
            f"SELECT {_ITEM_COLS}, content FROM items WHERE collection_id = %s AND uid = %s",
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
        cname, components, revision, account = self._row(conn, lock=True)
        if summary.component not in components.split():
            raise UnsupportedComponent(f"this collection does not take {summary.component}")
        existing = conn.execute(
            "SELECT id, etag FROM items WHERE collection_id = %s AND name = %s", (self._pk, name)
        ).fetchone()
        current_etag = existing[1] if existing else None
        if if_none_match and existing is not None:
            raise PreconditionFailed("item exists", current_etag)
        if if_match is not None and not etag_matches(current_etag, if_match):
            raise PreconditionFailed("etag does not match", current_etag)
        other = conn.execute(
            "SELECT name FROM items WHERE collection_id = %s AND uid = %s AND name != %s LIMIT 1",
            (self._pk, summary.uid, name),
        ).fetchone()
        if other is not None:
            raise UidConflict(summary.uid, other[0])
        revision += 1
        etag = make_etag(content)
        conn.execute("UPDATE collections SET revision = %s WHERE id = %s", (revision, self._pk))
        values = (
            summary.uid, etag, revision, len(content), summary.component, content,
            summary.expanded_until,
        )
        if existing is not None:
            item_id = existing[0]
            conn.execute(
                "UPDATE items SET uid = %s, etag = %s, revision = %s, size = %s, component = %s,"
                " content = %s, expanded_until = %s WHERE id = %s",
                (*values, item_id),
            )
            conn.execute("DELETE FROM spans WHERE item_id = %s", (item_id,))
        else:
            (item_id,) = conn.execute(
                "INSERT INTO items (collection_id, name, uid, etag, revision, size, component,"
                " content, expanded_until) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (self._pk, name, *values),
            ).fetchone()
            conn.execute(
                "UPDATE collections SET n_items = n_items + 1 WHERE id = %s", (self._pk,)
            )
            conn.execute(
                "DELETE FROM tombstones WHERE collection_id = %s AND name = %s", (self._pk, name)
            )
        if summary.spans:
            starts = [s for s, _ in summary.spans]
            ends = [e for _, e in summary.spans]
            conn.execute(
                "INSERT INTO spans (collection_id, is_long, s_start, s_end, item_id)"
                " SELECT %s, (e - s) > %s, s, e, %s FROM unnest(%s::bigint[], %s::bigint[]) AS t(s, e)",
                (self._pk, SHORT_SPAN, item_id, starts, ends),
            )
        ctx.event(account, ChangeKind.COLLECTION, cname, revision, self.id)
        return ItemInfo(name, summary.uid, etag, revision, len(content), summary.component)

    @deferred
    async def delete(self, name, if_match=None):
        if not isinstance(name, str):
            raise NotFound(f"no item {name!r}")
        return await self._db.write(self._delete, name, if_match)

    def _delete(self, conn, ctx, name, if_match):
        cname, _, revision, account = self._row(conn, lock=True)
        row = conn.execute(
            "SELECT id, etag FROM items WHERE collection_id = %s AND name = %s", (self._pk, name)
        ).fetchone()
        if row is None:
            raise NotFound(f"no item {name!r}")
        if if_match is not None and not etag_matches(row[1], if_match):
            raise PreconditionFailed("etag does not match", row[1])
        revision += 1
        conn.execute(
            "UPDATE collections SET revision = %s, n_items = n_items - 1 WHERE id = %s",
            (revision, self._pk),
        )
        conn.execute("DELETE FROM spans WHERE item_id = %s", (row[0],))
        conn.execute("DELETE FROM items WHERE id = %s", (row[0],))
        conn.execute(
            "INSERT INTO tombstones (collection_id, name, revision) VALUES (%s, %s, %s)"
            " ON CONFLICT (collection_id, name) DO UPDATE SET revision = EXCLUDED.revision",
            (self._pk, name, revision),
        )
        ctx.event(account, ChangeKind.COLLECTION, cname, revision, self.id)
        return revision

    @deferred
    async def changes_since(self, revision, limit=None):
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidData("limit must be a positive integer")
        if isinstance(revision, bool) or not isinstance(revision, int):
            raise SyncTokenInvalid(f"not a revision: {revision!r}")
        if not 0 <= revision <= _MAX_REVISION:
            raise SyncTokenInvalid(f"revision {revision} is not one of this collection's")
        return await self._db.read(self._changes_since, revision, limit)

    def _changes_since(self, conn, since, limit):
        _, _, current, _ = self._row(conn)
        if since > current:
            raise SyncTokenInvalid(f"revision {since} is not one of this collection's")
        cap = "" if limit is None else f" LIMIT {int(limit) + 1}"
        entries = [
            (r[3], r[0], item_info(r))
            for r in conn.execute(
                f"SELECT {_ITEM_COLS} FROM items WHERE collection_id = %s AND revision > %s"
                f' ORDER BY revision, name COLLATE "C"{cap}',
                (self._pk, since),
            )
        ]
        if since > 0:
            entries += [
                (rev, name, None)
                for name, rev in conn.execute(
                    "SELECT name, revision FROM tombstones WHERE collection_id = %s"
                    f' AND revision > %s ORDER BY revision, name COLLATE "C"{cap}',
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
        return [item_info(r) for r in matching_items(conn, self._pk, start, end, components)]
