"""What the converters made of stored items, kept so that an item is converted once
per revision, not once per request and device.

A full sync of a 10,000-event calendar is 10,000 parses of iCalendar and as many
conversions (most of its time); every Outlook that syncs the list, and every page of a
paged sync, would do them again. The converter's rows depend only on the item's
content -- fixed by its name and revision in the collection -- and on the list item ID
of its series (``RowInfo.item_id``, written as MasterSeriesItemID), which differs from
device to device: the rows are kept under ``(account, collection, list type, name,
revision)`` made with a stand-in ID, with where it stands
(``catalog.shared_conversion``), and each device's ID put in when used. A changed item
has a new revision: its old entry is never asked for again and ages out.

Bounded by an estimate of the memory its rows take (``limit`` bytes), least recently
used out first; one server-wide cache per endpoint (per store)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

#: Bytes a row's dict and each of its entries take beyond their text (CPython: a dict
#: of ~20 entries with its str objects' headers).
_ROW_OVERHEAD = 250
_ENTRY_OVERHEAD = 60
#: Default bound: converted rows of some 20,000 events (2 KB of estimate each).
DEFAULT_LIMIT = 48 * 1024 * 1024
#: Item orders kept (``RowCache.order``): a few devices paging at once.
ORDERS = 8


def estimate(rows: list) -> int:
    """Bytes ``rows`` (a converter's list of field dicts) hold, roughly."""
    return sum(_ROW_OVERHEAD + _ENTRY_OVERHEAD * len(fields) + sum(map(len, fields))
               + sum(map(len, fields.values())) for fields in rows)


class RowCache:
    """Converted rows by item and revision."""

    def __init__(self, limit: int = DEFAULT_LIMIT):
        self.limit = limit
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple, tuple[tuple, int]] = OrderedDict()
        self._orders: OrderedDict[tuple, list] = OrderedDict()

    def get(self, key: tuple) -> Optional[tuple]:
        """What was kept for ``key`` (``put``'s ``value``), not to be changed (None: not
        kept)."""
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: tuple, value: tuple) -> None:
        """Keep ``value``, a tuple whose first member is the converter's rows (what
        its size is estimated from)."""
        size = estimate(value[0])
        if size > self.limit // 4:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= old[1]
        self._entries[key] = (value, size)
        self.size += size
        while self.size > self.limit:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= dropped

    def __len__(self) -> int:
        return len(self._entries)

    # A paged sync asks for the same list at the same revision once a page: its items
    # in ID order are kept for the last few (device, list, revision), so that a page
    # costs its own items, not a listing and sort of the whole list.

    def order(self, key: tuple) -> Optional[list]:
        """The ``(ID, ItemInfo)`` pairs kept for ``key`` (None: none)."""
        found = self._orders.get(key)
        if found is not None:
            self._orders.move_to_end(key)
        return found

    def keep_order(self, key: tuple, pairs: list) -> None:
        self._orders[key] = pairs
        self._orders.move_to_end(key)
        while len(self._orders) > ORDERS:
            self._orders.popitem(last=False)
