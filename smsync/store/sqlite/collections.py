"""``ICollectionStore`` and ``ICollection`` over SQLite: the shared SQL collections in
SQLite's dialect, with a cache of the largest collections' listings.
"""

from __future__ import annotations

import threading
import weakref
from array import array
from collections import OrderedDict
from typing import Optional

import attrs

from smsync.model import CollectionChanges, ItemInfo
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


#: Separates the fields of a packed listing; a listing holding it is not packed.
_SEP = "\0"


@attrs.frozen(eq=False)
class PackedListing:
    """A collection's listing (``ItemInfo`` by name) in a few flat objects.

    50,000 ``ItemInfo``s with their strings and ints take about 20 MB as objects; packed,
    the same listing is about 4 MB: names, uids and etags joined into one string each,
    revisions and sizes in machine-word arrays, components as one byte each. Unpacking is
    a split per field and one ``ItemInfo`` per item (about 1 µs each), off the reactor on
    the reader thread -- still far cheaper than reading the rows from SQLite again.
    """

    count: int
    names: str
    uids: str
    etags: str
    revisions: array
    sizes: array
    components: bytes
    component_names: tuple
    #: Positions in (revision, name) order: the first-sync order.
    by_revision: array

    @classmethod
    def pack(cls, infos) -> "Optional[PackedListing]":
        """The packed form of ``infos`` (sorted by name), or None if they cannot be (a
        field holding the separator, more than 255 component names)."""
        names = _SEP.join(i.name for i in infos)
        uids = _SEP.join(i.uid for i in infos)
        etags = _SEP.join(i.etag for i in infos)
        n = len(infos)
        if any(x.count(_SEP) != n - 1 for x in (names, uids, etags)):
            return None
        kinds: dict = {}
        components = bytes(kinds.setdefault(i.component, len(kinds)) & 0xFF for i in infos)
        if len(kinds) > 255:
            return None
        order = sorted(range(n), key=lambda k: (infos[k].revision, infos[k].name))
        return cls(n, names, uids, etags, array("q", (i.revision for i in infos)),
                   array("q", (i.size for i in infos)), components, tuple(kinds), array("l", order))

    def unpack(self) -> list:
        """The ``ItemInfo``s by name."""
        comps = self.component_names
        return list(map(ItemInfo, self.names.split(_SEP), self.uids.split(_SEP),
                        self.etags.split(_SEP), self.revisions, self.sizes,
                        [comps[c] for c in self.components]))

    def unpack_by_revision(self, by_name: list) -> list:
        """``by_name`` (this listing unpacked) in (revision, name) order."""
        return [by_name[k] for k in self.by_revision]


class ListingCache:
    """Whole listings of the largest collections read lately, per database, packed.

    A DAV or EAS client lists a calendar of thousands of items at every full sync and
    PROPFIND; reading those rows from SQLite again is most of the answer's cost. A
    listing is valid exactly while its collection's revision is the one it was read at
    (every write bumps it in the same transaction, in this process or another), so a
    reader compares revisions inside its own read transaction and never sees a stale
    listing. Keyed by row id *and* collection id: a row id can be reused after a
    collection is deleted. Listings are kept packed (``PackedListing``): the cache is
    what a calendar costs the server at rest.
    """

    #: Smaller collections are read from SQLite every time (it is quick for them).
    MIN_ITEMS = 256
    #: Most items kept over all listings of one database.
    MAX_ITEMS = 200_000

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: OrderedDict = OrderedDict()
        self._size = 0

    def get(self, key, revision) -> Optional[PackedListing]:
        """The listing of ``key`` at ``revision``, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != revision:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key, revision, by_name) -> Optional[PackedListing]:
        """Keep ``by_name`` (``ItemInfo``s sorted by name) as ``key``'s listing at
        ``revision`` if it is large enough; the packed listing kept, or None."""
        if len(by_name) < self.MIN_ITEMS:
            return None
        packed = PackedListing.pack(by_name)
        if packed is None:
            return None
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= old[1].count
            self._entries[key] = (revision, packed)
            self._size += packed.count
            while self._size > self.MAX_ITEMS and len(self._entries) > 1:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._size -= dropped.count
        return packed


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
        return self._listing(conn)[0]

    def _listing(self, conn) -> tuple:
        """``(items by name, packed listing or None)`` as of this read transaction, from
        the listing cache when the revision still matches."""
        revision = self._row(conn)[2]
        cache = listing_cache(self._db)
        packed = cache.get((self._pk, self.id), revision)
        if packed is not None:
            return packed.unpack(), packed
        by_name = [
            item_info(r)
            for r in conn.execute(
                f"SELECT {ITEM_COLS} FROM items WHERE collection_id = ? ORDER BY name",
                (self._pk,),
            )
        ]
        return by_name, cache.put((self._pk, self.id), revision, by_name)

    def _first_sync(self, conn, current):
        # Everything there is: the (cached) listing, in change-log order.
        by_name, packed = self._listing(conn)
        if packed is not None:
            ordered = packed.unpack_by_revision(by_name)
        else:
            ordered = sorted(by_name, key=lambda i: (i.revision, i.name))
        return CollectionChanges(current, tuple(ordered), (), False)


class SQLiteCollectionStore(SQLCollectionStore):
    dialect = SQLITE
    collection_class = SQLiteCollection
