"""One mail folder's messages and change log, held in dicts and sorted lists.

``FolderState`` is synchronous and knows nothing of Deferreds, accounts or notification:
``smsync.store.memory.mail`` wraps it into the ``IMailbox`` contract. Every mutator takes
the modseq to stamp (so one operation touching a folder twice, such as a MOVE within
the folder, still shares one revision) and returns what it changed.

Indexes kept so that a folder of 100,000 messages answers quickly:

* ``uids``: the UIDs ascending (new UIDs are always the largest, so appends are O(1));
  UIDSet ranges are sliced with bisect.
* ``_unseen``: ascending UIDs lacking ``\\Seen`` (unseen count and first unseen UID).
* ``_by_modseq``: a dict whose insertion order is modseq order -- a message that changes
  is moved to the end -- so ``changes_since`` walks back only over what changed.
* ``_tomb_modseqs``/``_tomb_uids``: expunged UIDs in modseq order, bisected.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from datetime import datetime
from typing import Iterable, Optional

from smsync.model import MailboxChanges, MailboxInfo, MessageInfo, Role, UIDSet

SEEN = "\\Seen"
DELETED = "\\Deleted"


class StoredMessage:
    """A message as kept: its current ``MessageInfo`` plus body and parsed structure.

    ``info`` is replaced (never mutated) whenever flags or modseq change, so callers may
    keep the ``MessageInfo`` objects they were given.
    """

    __slots__ = ("info", "body", "structure")

    def __init__(self, info: MessageInfo, body: bytes, structure):
        self.info = info
        self.body = body
        self.structure = structure


class FolderState:
    """The state of one mail folder. ``name``, ``role`` and ``subscribed`` are changed by
    the owning account (rename, set_role, subscribe); the rest through the methods."""

    def __init__(self, folder_id: str, name: str, uidvalidity: int, role: Optional[Role] = None):
        self.id = folder_id
        self.name = name
        self.role = role
        self.subscribed = True
        #: IMailboxRecent: the highest UID a session has taken as recent.
        self.recent_mark = 0
        self.uidvalidity = uidvalidity
        self.uidnext = 1
        # Modseq starts at 1: RFC 7162 wants a non-zero HIGHESTMODSEQ even when empty.
        self.highestmodseq = 1
        self.uids: list[int] = []
        self.messages: dict[int, StoredMessage] = {}
        self._unseen: list[int] = []
        self._size = 0
        self._by_modseq: dict[int, None] = {}
        self._tomb_modseqs: list[int] = []
        self._tomb_uids: list[int] = []

    # -- reading ------------------------------------------------------------------------

    def info(self) -> MailboxInfo:
        return MailboxInfo(
            id=self.id,
            name=self.name,
            role=self.role,
            uidvalidity=self.uidvalidity,
            uidnext=self.uidnext,
            highestmodseq=self.highestmodseq,
            exists=len(self.uids),
            unseen=len(self._unseen),
            size=self._size,
            first_unseen_uid=self._unseen[0] if self._unseen else None,
            recent_mark=self.recent_mark,
        )

    def select(self, uids: Optional[UIDSet]) -> list[int]:
        """The existing UIDs in ``uids`` (None: all), ascending."""
        if uids is None:
            return list(self.uids)
        if not self.uids:
            return []
        highest = self.uids[-1]
        ranges = list(uids.bounded(highest))
        picked: list[int] = []
        for lo, hi in ranges:
            if lo > hi:
                lo, hi = hi, lo
            picked.extend(self.uids[bisect_left(self.uids, lo) : bisect_right(self.uids, hi)])
        if len(ranges) > 1:
            # Ranges given unnormalised, or "n:*" resolved onto another range, may overlap.
            picked = sorted(set(picked))
        return picked

    def changes_since(self, modseq: int) -> MailboxChanges:
        changed = []
        for uid in reversed(self._by_modseq):
            info = self.messages[uid].info
            if info.modseq <= modseq:
                break
            changed.append(info)
        changed.sort(key=lambda i: i.uid)
        start = bisect_right(self._tomb_modseqs, modseq)
        expunged = sorted(self._tomb_uids[start:])
        return MailboxChanges(
            highestmodseq=self.highestmodseq, changed=tuple(changed), expunged=tuple(expunged)
        )

    # -- changing -----------------------------------------------------------------------

    def next_modseq(self) -> int:
        """Allocate the modseq of the operation about to change this folder."""
        self.highestmodseq += 1
        return self.highestmodseq

    def add(
        self,
        body: bytes,
        structure,
        flags: frozenset[str],
        internal_date: datetime,
        saved_date: datetime,
        modseq: int,
    ) -> MessageInfo:
        """Store one message under the next UID, stamped ``modseq``."""
        uid = self.uidnext
        self.uidnext += 1
        info = MessageInfo(
            uid=uid,
            flags=flags,
            internal_date=internal_date,
            saved_date=saved_date,
            size=len(body),
            modseq=modseq,
        )
        self.messages[uid] = StoredMessage(info, body, structure)
        self.uids.append(uid)
        self._by_modseq[uid] = None
        self._size += info.size
        if SEEN not in flags:
            self._unseen.append(uid)
        return info

    def set_flags(self, uid: int, flags: frozenset[str], modseq: int) -> MessageInfo:
        """Give message ``uid`` new flags, stamped ``modseq``."""
        stored = self.messages[uid]
        was_seen = SEEN in stored.info.flags
        old = stored.info
        # Built directly: attrs.evolve costs several times more on 100,000-message STOREs.
        stored.info = MessageInfo(
            uid=uid,
            flags=flags,
            internal_date=old.internal_date,
            saved_date=old.saved_date,
            size=old.size,
            modseq=modseq,
        )
        # Move to the end so the dict stays in modseq order.
        del self._by_modseq[uid]
        self._by_modseq[uid] = None
        is_seen = SEEN in flags
        if was_seen and not is_seen:
            insort(self._unseen, uid)
        elif is_seen and not was_seen:
            self._unseen.pop(bisect_left(self._unseen, uid))
        return stored.info

    def remove(self, uids: Iterable[int], modseq: int) -> list[int]:
        """Expunge ``uids`` (those that exist), leaving tombstones stamped ``modseq``.
        Returns the removed UIDs, ascending."""
        gone = sorted(uid for uid in set(uids) if uid in self.messages)
        if not gone:
            return []
        for uid in gone:
            stored = self.messages.pop(uid)
            self._size -= stored.info.size
            del self._by_modseq[uid]
            self._tomb_modseqs.append(modseq)
            self._tomb_uids.append(uid)
        if len(gone) > 32:
            dropped = set(gone)
            self.uids = [u for u in self.uids if u not in dropped]
            self._unseen = [u for u in self._unseen if u not in dropped]
        else:
            for uid in gone:
                self.uids.pop(bisect_left(self.uids, uid))
                at = bisect_left(self._unseen, uid)
                if at < len(self._unseen) and self._unseen[at] == uid:
                    self._unseen.pop(at)
        return gone
