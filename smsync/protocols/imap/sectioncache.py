"""Finished FETCH items of the small header sections clients ask for again and again.

Webmail and clients that keep no local cache fetch the same few header fields of the
same messages on every look at a folder (Roundcube's message list is ``UID FETCH 1:50
(... BODY.PEEK[HEADER.FIELDS (DATE FROM TO SUBJECT ...)])``). Each answer costs a store
read, a structure and a header walk; Dovecot keeps these fields in its index cache for
the same reason. A message's content never changes under one UID of one UIDVALIDITY
(RFC 3501 2.3.1.1), so an item, once made, is right for as long as it is kept: entries
are only ever dropped for room, least recently used first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

#: Items longer than this are not kept (a header section is rarely a few KB).
MAX_ITEM = 8 * 1024


class SectionCache:
    """FETCH item bytes by ``(mailbox id, uidvalidity, uid, item label)``, within a
    byte budget. Used from the reactor thread only."""

    def __init__(self, budget: int):
        self.budget = budget
        self._entries: OrderedDict = OrderedDict()
        self._size = 0

    def get(self, key) -> Optional[bytes]:
        item = self._entries.get(key)
        if item is not None:
            self._entries.move_to_end(key)
        return item

    def __contains__(self, key) -> bool:
        return key in self._entries

    def put(self, key, item: bytes) -> None:
        if len(item) > MAX_ITEM or key in self._entries:
            return
        self._entries[key] = item
        # Keys are small tuples sharing their label: the item's bytes are the cost.
        self._size += len(item) + 100
        while self._size > self.budget:
            _, dropped = self._entries.popitem(last=False)
            self._size -= len(dropped) + 100

    def __len__(self) -> int:
        return len(self._entries)


#: Shared by every IMAP session of the process: 16 MB holds the five usual list fields
#: of some 40,000 messages.
section_cache = SectionCache(16 << 20)
