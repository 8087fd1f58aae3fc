"""The mailboxes a ``shared.MailView`` hands out: ``SharedMailbox``, a folder someone
shares with the session behind the rights RFC 4314 4 says each operation takes, and
``PersonalMailbox``, one of the account's own folders whose COPY and MOVE may also reach
shared folders; and copying messages between two accounts' folders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
from zope.interface import directlyProvides, providedBy

from smsync._async import deferred
from smsync.errors import NotFound, PermissionDenied, SmsyncError
from smsync.interfaces import IMailbox, IMailboxRangeReads, IMailboxSelect, IMailboxUIDWindow
from smsync.model import CopyResult, FlagMode, StoreFlagsResult, UIDSet
from smsync.protocols.imap import rights as acl

if TYPE_CHECKING:
    from smsync.protocols.imap.shared import Access, MailView


def denied(rights: str, needed: str, name: str) -> SmsyncError:
    """The error for a missing right: NOPERM to whom may see the folder, NONEXISTENT to
    others (RFC 4314 6)."""
    if "l" in rights or "r" in rights:
        return PermissionDenied(f"no {needed!r} right on {name}")
    return NotFound(f"no folder {name!r}")


async def copy_across(source, target, target_rights: str, uids: UIDSet, move: bool) -> CopyResult:
    """Copy messages one by one, keeping only the flags ``target_rights`` may set (RFC
    4314 4: "Only when the user has a particular right are the corresponding flags
    stored"); a failure takes back the copies made (RFC 3501 6.4.7). For MOVE the
    originals go once every copy is made: no message is ever in neither folder."""
    made: list[int] = []
    moved: list[int] = []
    uidvalidity = None
    try:
        for info in await source.messages(uids):
            body = await source.read_body(info.uid)
            flags = [f for f in info.flags if acl.may_set(f, target_rights)]
            result = await target.append(body, flags, info.internal_date)
            uidvalidity = result.uidvalidity
            made.append(result.uid)
            moved.append(info.uid)
        if move and moved:
            await source.remove(UIDSet.of(moved))
    except BaseException:
        if made:
            await target.remove(UIDSet.of(made))
        raise
    if uidvalidity is None:
        uidvalidity = (await target.info()).uidvalidity
    return CopyResult(uidvalidity, tuple(moved), tuple(made))


class PersonalMailbox:
    """One of the account's own folders, from a ``MailView``: the store's own handle in
    everything but COPY and MOVE, which may also reach shared folders."""

    def __init__(self, mailbox, view: MailView):
        self._mailbox = mailbox
        self._view = view
        self.id = mailbox.id
        self.account = mailbox.account
        directlyProvides(self, providedBy(mailbox))

    def __getattr__(self, name):
        return getattr(self._mailbox, name)

    @deferred
    async def copy(self, uids, dest):
        return await self._view.transfer(self._mailbox, acl.ALL, uids, dest, move=False)

    @deferred
    async def move(self, uids, dest):
        return await self._view.transfer(self._mailbox, acl.ALL, uids, dest, move=True)


class SharedMailbox:
    """A folder someone shares with the session: the owner's ``IMailbox`` behind the
    rights RFC 4314 4 says each operation takes. ``rights`` are taken when the folder
    is opened (4: "Servers MAY cache the rights a user has on a mailbox when the
    mailbox is selected")."""

    def __init__(self, mailbox, access: Access, view: MailView):
        self._mailbox = mailbox
        self._view = view
        self.access = access
        self.rights = access.rights
        self.id = mailbox.id
        self.account = mailbox.account
        # What this session appended, which a failed MULTIAPPEND may take back.
        self._appended: set[int] = set()
        optional = [i for i in (IMailboxRangeReads, IMailboxSelect, IMailboxUIDWindow) if i.providedBy(mailbox)]
        directlyProvides(self, IMailbox, *optional)

    def _need(self, right: str) -> None:
        if right not in self.rights:
            raise denied(self.rights, right, self.access.name)

    # Reading takes "r" (RFC 4314 4: SELECT/EXAMINE/STATUS).

    @deferred
    async def info(self):
        self._need("r")
        return attrs.evolve(await self._mailbox.info(), name=self.access.name)

    @deferred
    async def info_and_uids(self):
        self._need("r")
        info, uids = await self._mailbox.info_and_uids()
        return attrs.evolve(info, name=self.access.name), uids

    @deferred
    async def uids(self):
        self._need("r")
        return await self._mailbox.uids()

    @deferred
    async def uids_after(self, after, limit):
        self._need("r")
        return await self._mailbox.uids_after(after, limit)

    @deferred
    async def messages(self, uids=None):
        self._need("r")
        return await self._mailbox.messages(uids)

    @deferred
    async def structures(self, uids):
        self._need("r")
        return await self._mailbox.structures(uids)

    @deferred
    async def read_body(self, uid, offset=0, length=None):
        self._need("r")
        return await self._mailbox.read_body(uid, offset, length)

    @deferred
    async def read_ranges(self, ranges):
        self._need("r")
        return await self._mailbox.read_ranges(ranges)

    @deferred
    async def changes_since(self, modseq):
        self._need("r")
        return await self._mailbox.changes_since(modseq)

    # Writing.

    @deferred
    async def append(self, body, flags=(), internal_date=None):
        # RFC 4314 4: APPEND takes "i"; flags the user may not set are dropped, and
        # that alone never fails the APPEND.
        self._need("i")
        kept = [f for f in flags if acl.may_set(f, self.rights)]
        result = await self._mailbox.append(body, kept, internal_date)
        self._appended.add(result.uid)
        return result

    @deferred
    async def copy(self, uids, dest):
        self._need("r")
        return await self._view.transfer(self._mailbox, self.rights, uids, dest, move=False)

    @deferred
    async def move(self, uids, dest):
        self._need("r")
        return await self._view.transfer(self._mailbox, self.rights, uids, dest, move=True)

    @deferred
    async def store_flags(self, uids, mode, flags, unchanged_since=None):
        # RFC 4314 4: \Seen takes "s", \Deleted "t", any other flag "w"; a STORE "SHOULD
        # NOT fail if the user has rights to modify at least one flag specified".
        rights = self.rights
        if all(ch in rights for ch in "stw"):
            return await self._mailbox.store_flags(uids, mode, flags, unchanged_since)
        if not any(ch in rights for ch in "stw"):
            raise denied(rights, "w", self.access.name)
        if mode != FlagMode.SET:
            kept = tuple(f for f in flags if acl.may_set(f, rights))
            if flags and not kept:
                raise denied(rights, acl.flag_right(flags[0]), self.access.name)
            return await self._mailbox.store_flags(uids, mode, kept, unchanged_since)
        # Replacing: the flags the user may not change stay as each message has them.
        wanted = frozenset(f for f in flags if acl.may_set(f, rights))
        groups: dict[frozenset, list[int]] = {}
        for info in await self._mailbox.messages(uids):
            keep = frozenset(f for f in info.flags if not acl.may_set(f, rights))
            groups.setdefault(wanted | keep, []).append(info.uid)
        changed, modified, unchanged = [], [], []
        for target, group in groups.items():
            result = await self._mailbox.store_flags(UIDSet.of(group), FlagMode.SET, tuple(target),
                                                     unchanged_since)
            changed += result.changed
            modified += result.modified
            unchanged += result.unchanged
        return StoreFlagsResult(tuple(sorted(changed, key=lambda m: m.uid)), tuple(sorted(modified)),
                                tuple(sorted(unchanged, key=lambda m: m.uid)))

    @deferred
    async def expunge(self, uids=None):
        self._need("e")
        return await self._mailbox.expunge(uids)

    @deferred
    async def remove(self, uids):
        if not self._only_appended(uids):
            self._need("t")
            self._need("e")
        removed = await self._mailbox.remove(uids)
        self._appended.difference_update(removed)
        return removed

    def _only_appended(self, uids: UIDSet) -> bool:
        count = 0
        for lo, hi in uids.ranges:
            if hi is None:
                return False
            count += hi - lo + 1
            if count > len(self._appended):
                return False
            if any(uid not in self._appended for uid in range(lo, hi + 1)):
                return False
        return True
