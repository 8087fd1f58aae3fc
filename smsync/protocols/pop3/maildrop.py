"""A POP3 session's view of the Inbox: a numbered snapshot, deletion marks, the lock.

RFC 1939 numbers messages from 1 for the whole session and lets DELE take effect only
when the client QUITs. The snapshot is taken once, after login; messages arriving later
show up in the next session. Deletions are applied with ``IMailbox.remove`` so that
they disappear for every protocol at once.

Locking: ``MaildropLocks`` is one process's table of locked maildrops. Every POP3
factory over the same store shares one table (see ``locks_for``), so a second session
on a locked maildrop gets ``-ERR [IN-USE]`` whatever listener it came through. It does
not reach other processes: two smsync processes on one shared store can each have a
session on the same maildrop. That stays safe -- UIDLs are stable, and removing a
message another session removed already is a no-op -- but the second client may
download a message the first one is about to delete.
"""

from __future__ import annotations

import weakref
from typing import Optional

import attrs

from smsync._async import deferred
from smsync.errors import NotFound
from smsync.model import FlagMode, UIDSet
from smsync.protocols.pop3.codec import uidl_of


class MaildropLocks:
    """Which accounts have a POP3 session in the transaction state, in this process."""

    def __init__(self):
        self._held: dict[str, object] = {}

    def acquire(self, account: str, owner: object) -> bool:
        """Lock ``account`` for ``owner``; False if another owner holds it."""
        holder = self._held.get(account)
        if holder is not None and holder is not owner:
            return False
        self._held[account] = owner
        return True

    def release(self, account: str, owner: object) -> None:
        """Unlock ``account`` if ``owner`` holds it (idempotent)."""
        if self._held.get(account) is owner:
            del self._held[account]

    def held(self, account: str) -> bool:
        return account in self._held


# One table per store object: factories built over the same store share it.
_tables: "weakref.WeakKeyDictionary[object, MaildropLocks]" = weakref.WeakKeyDictionary()
_by_id: dict[int, MaildropLocks] = {}


def locks_for(store) -> MaildropLocks:
    """The lock table every POP3 session over ``store`` (in this process) uses."""
    try:
        table = _tables.get(store)
        if table is None:
            table = _tables[store] = MaildropLocks()
        return table
    except TypeError:
        # A store object that cannot be weakly referenced: key by identity instead.
        return _by_id.setdefault(id(store), MaildropLocks())


@attrs.define
class Entry:
    """One message of the session: its number is its index + 1."""

    uid: int
    size: int
    deleted: bool = False
    retrieved: bool = False


class Maildrop:
    """The Inbox as one POP3 session sees it."""

    def __init__(self, mailbox, uidvalidity: int, entries: list[Entry]):
        self.mailbox = mailbox
        self.uidvalidity = uidvalidity
        self.entries = entries

    @classmethod
    @deferred
    async def open(cls, mailbox) -> "Maildrop":
        """Snapshot ``mailbox`` (an ``IMailbox``): numbers, sizes and UIDs as of now."""
        info = await mailbox.info()
        messages = await mailbox.messages(None)
        return cls(mailbox, info.uidvalidity, [Entry(m.uid, m.size) for m in messages])

    def get(self, number: int) -> Optional[Entry]:
        """The live (not deleted) message ``number`` (1-based), or None."""
        if 1 <= number <= len(self.entries):
            entry = self.entries[number - 1]
            if not entry.deleted:
                return entry
        return None

    def live(self) -> list[tuple[int, Entry]]:
        """``(number, entry)`` of every message not marked deleted."""
        return [(i, e) for i, e in enumerate(self.entries, 1) if not e.deleted]

    def stat(self) -> tuple[int, int]:
        """Count and total size of the messages not marked deleted."""
        live = [e for e in self.entries if not e.deleted]
        return len(live), sum(e.size for e in live)

    def uidl(self, entry: Entry) -> str:
        return uidl_of(self.uidvalidity, entry.uid)

    def reset(self) -> None:
        """RSET: unmark every deletion."""
        for entry in self.entries:
            entry.deleted = False

    @deferred
    async def commit(self) -> list[int]:
        """The UPDATE state: remove the messages marked deleted and mark the retrieved
        ones seen. Fires with the UIDs removed (those others removed first are simply
        gone). Fails only if the store does; then nothing is known to be removed."""
        doomed = [e.uid for e in self.entries if e.deleted]
        seen = [e.uid for e in self.entries if e.retrieved and not e.deleted]
        removed: list[int] = []
        if doomed:
            removed = await self.mailbox.remove(UIDSet.of(doomed))
        if seen:
            try:
                await self.mailbox.store_flags(UIDSet.of(seen), FlagMode.ADD, ["\\Seen"])
            except NotFound:
                pass
        return removed
