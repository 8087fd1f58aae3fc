"""IMAP4rev1's ``\\Recent``: which session is the first to be told of a message.

RFC 3501 2.3.2 gives each message as recent to one session only, the first to be
notified of it; a read-only session (EXAMINE) sees it but does not take it away. That
is decided where every session can see it, with the folder: the store's recent mark
(``IMailboxRecent``), the highest UID some session has already taken. A session that
selects a folder, or learns of new messages in it, claims up to the highest UID it now
knows and is given as recent what lies above the mark it replaced; so of the sessions
in all processes over one store exactly one takes each message. A store whose
mailboxes keep no marks gets them kept here, in memory, which holds within this process
only.

IMAP4rev2 (RFC 9051) has no ``\\Recent``: its sessions neither see nor claim it, so a
rev2 client does not take it from a rev1 one.
"""

from __future__ import annotations

from smsync.errors import StorageUnavailable
from smsync.interfaces import IMailboxRecent

#: (store URI, account, folder id) -> mark, for mailboxes without IMailboxRecent.
_LOCAL: dict[tuple[str, str, str], int] = {}


class RecentMarks:
    """The recent mark of one folder, as one session reaches it."""

    __slots__ = ("mailbox", "_shared", "_key")

    def __init__(self, store, mailbox):
        self.mailbox = mailbox
        self._shared = IMailboxRecent.providedBy(mailbox)
        self._key = (getattr(store, "uri", ""), mailbox.account, mailbox.id)

    async def peek(self) -> int:
        """The mark now: messages above it are recent to whoever claims them next."""
        if self._shared:
            return await self.mailbox.recent_mark()
        return _LOCAL.get(self._key, 0)

    async def claim(self, uid: int) -> int:
        """Take the messages up to ``uid``: the mark before (those above it, up to
        ``uid``, are this session's recent messages)."""
        if self._shared:
            try:
                return await self.mailbox.claim_recent(uid)
            except StorageUnavailable:
                # RFC 3501 2.3.2: when it cannot be told whether this session is the
                # first, the message SHOULD be considered recent. A full disk must not
                # stop a SELECT, which otherwise only reads.
                return await self.mailbox.recent_mark()
        before = _LOCAL.get(self._key, 0)
        _LOCAL[self._key] = max(before, uid)
        return before


async def count(store, mailbox, uidnext: int) -> int:
    """STATUS RECENT: how many of ``mailbox``'s messages the next session to claim them
    would get as recent (``uidnext`` from the folder's info, to skip reading UIDs when
    nothing lies above the mark)."""
    mark = await RecentMarks(store, mailbox).peek()
    if uidnext - 1 <= mark:
        return 0
    return sum(1 for uid in await mailbox.uids() if uid > mark)
