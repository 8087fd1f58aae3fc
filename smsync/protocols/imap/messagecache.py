"""What the IMAP sessions of this process keep of messages they were asked for again
and again: their structures, and the finished FETCH items of small header sections.

Webmail and clients that keep no local cache fetch the same few header fields of the
same messages on every look at a folder (Roundcube's message list is ``UID FETCH 1:50
(... BODY.PEEK[HEADER.FIELDS (DATE FROM TO SUBJECT ...)])``), and SEARCH reads the
structures of every message it looks at. Each costs a store round trip on a reader
thread, and a header walk; Dovecot keeps such fields in its index cache for the same
reason. A message's content never changes under one UID of one UIDVALIDITY (RFC 3501
2.3.1.1), so what is kept by ``SelectedMailbox.cache_prefix`` (store, account, folder
id, UIDVALIDITY) and UID is right for as
long as it is kept: entries are only ever dropped for room, least recently used first.
Used from the reactor thread only.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

#: Section items longer than this are not kept (a header section is rarely a few KB).
MAX_ITEM = 8 * 1024


class LRU:
    """Values by key within a budget of ``cost(value)`` units."""

    def __init__(self, budget: int, cost=lambda value: 1):
        self.budget = budget
        self._cost = cost
        self._entries: OrderedDict = OrderedDict()
        self._size = 0

    def get(self, key) -> Optional[object]:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def __contains__(self, key) -> bool:
        return key in self._entries

    def put(self, key, value) -> None:
        if key in self._entries:
            return
        self._entries[key] = value
        self._size += self._cost(value)
        while self._size > self.budget:
            _, dropped = self._entries.popitem(last=False)
            self._size -= self._cost(dropped)

    def __len__(self) -> int:
        return len(self._entries)


class SectionCache(LRU):
    """FETCH item bytes by ``(*cache_prefix, uid, item label)``."""

    def __init__(self, budget: int):
        # Keys are small tuples sharing their label: the item's bytes are the cost.
        super().__init__(budget, lambda item: len(item) + 100)

    def put(self, key, item: bytes) -> None:
        if len(item) <= MAX_ITEM:
            super().put(key, item)


#: 16 MB holds the five usual list fields of some 40,000 messages.
section_cache = SectionCache(16 << 20)

#: ``MessageStructure`` by ``(*cache_prefix, uid)``. The objects are mostly
#: the ones the store's own cache holds, but may outlive them there: some 2 KB each for
#: a plain message, so the count is kept to what a few busy folders need.
structure_cache = LRU(10_000)


async def structures(sel, uids) -> dict:
    """``uid -> MessageStructure`` of those of ``uids`` still in the selected mailbox
    ``sel``, from ``structure_cache`` where kept, the rest in one store call."""
    prefix = sel.cache_prefix
    get = structure_cache.get
    out = {}
    missing = []
    for uid in uids:
        st = get((*prefix, uid))
        if st is None:
            missing.append(uid)
        else:
            out[uid] = st
    if missing:
        got = await sel.mailbox.structures(missing)
        put = structure_cache.put
        for uid, st in got.items():
            put((*prefix, uid), st)
        out.update(got)
    return out
