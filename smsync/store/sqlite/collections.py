"""``ICollectionStore`` and ``ICollection`` over SQLite: the shared SQL collections in
SQLite's dialect, with a cache of the largest collections' listings.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

from smsync.model import CollectionChanges
from smsync.store.sql.collections import (
    ITEM_COLS,
    SQLCollection,
    SQLCollectionStore,
    insert_collection_row,
    item_info,
)
from smsync.store.sql.dialect import SQLITE
from smsync.store.sqlite.schema import SHORT_SPAN
from smsync.store.sqlite.timerange import matching_items


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


def create_collection_row(conn, account_id, name, kind, components, properties):
    """Insert a collection of a new account (no name can clash); its ``CollectionInfo``."""
    return insert_collection_row(conn, SQLITE, account_id, name, kind, components, properties)


class SQLiteCollection(SQLCollection):
    dialect = SQLITE
    counts_items = False  # the schema's triggers do

    def _insert_spans(self, conn, item_id, spans):
        conn.executemany(
            "INSERT INTO spans (collection_id, long, start, end, item_id) VALUES (?, ?, ?, ?, ?)",
            [(self._pk, (e - s) > SHORT_SPAN, s, e, item_id) for s, e in spans],
        )

    def _matching_items(self, conn, start, end, components):
        return matching_items(conn, self._pk, start, end, components)

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
                    f"SELECT {ITEM_COLS} FROM items WHERE collection_id = ? ORDER BY name",
                    (self._pk,),
                )
            )
            lists = cache.put((self._pk, self.id), revision, by_name)
        return lists

    def _first_sync(self, conn, current):
        # Everything there is: the (cached) listing, in change-log order.
        lists = self._listing(conn)
        if lists[1] is None:
            lists[1] = tuple(sorted(lists[0], key=lambda i: (i.revision, i.name)))
        return CollectionChanges(current, lists[1], (), False)


class SQLiteCollectionStore(SQLCollectionStore):
    dialect = SQLITE
    collection_class = SQLiteCollection
