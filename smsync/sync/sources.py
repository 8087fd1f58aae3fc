"""One shape over the two kinds of source the sync engine serves.

``MailSource`` (a folder: server ids are UIDs as strings, versions are MODSEQs) and
``CollectionSource`` (a collection: server ids are item names, versions are item
revisions) answer the same questions, so ``adapter`` holds the sync logic once. Both go
through the store interfaces only and work on any backend.
"""

from __future__ import annotations

import bisect
import uuid
from typing import Optional

import attrs

from smsync.errors import InvalidData, NotFound, SyncTokenInvalid
from smsync.interfaces import IMailboxUIDWindow
from smsync.model import CollectionKind, FlagMode, Role, UIDSet
from smsync.sync.types import ADD, CHANGE, ClientChange, ServerChange
from smsync.sync.uids import rewrite_uid


@attrs.frozen
class Current:
    """An item as the server holds it now: its revision plus what conflict checks need."""

    revision: int
    flags: Optional[frozenset] = None
    etag: Optional[str] = None
    content: Optional[bytes] = None
    #: ``MessageInfo`` or ``ItemInfo``, as ``Entry.payload``.
    payload: object = None


@attrs.frozen
class Entry:
    """One entry of the change log above a revision: ``payload`` is the ``MessageInfo``
    (mail) or ``ItemInfo`` (collection) as ``changes_since`` gave it."""

    server_id: str
    revision: int
    payload: object


@attrs.frozen
class Changes:
    """The change log above a revision: ``revision`` is the source's current one."""

    revision: int
    changed: tuple[Entry, ...]
    deleted: tuple[str, ...]
    #: A limit cut the answer: it is complete up to ``revision`` only.
    truncated: bool = False


def _uid(server_id) -> Optional[int]:
    if isinstance(server_id, str) and server_id.isascii() and server_id.isdigit():
        uid = int(server_id)
        if 0 < uid < 2**32:
            return uid
    return None


class MailSource:
    """A mail folder. A client change is a flag delta (``flags`` added, ``flags_removed``
    cleared) applied in one ``store_flags(SET, unchanged_since=...)`` so it costs one
    MODSEQ and cannot lose a concurrent change; one with ``content`` (a draft edited on
    the device) replaces the message, as IMAP clients replace a draft: the new version
    is appended and the old one removed, so it has a new UID."""

    kind = "mail"

    def __init__(self, mail_store, mailbox, deletes_as_moves: bool = False):
        self._store = mail_store
        self._box = mailbox
        self._deletes_as_moves = deletes_as_moves
        self.validity: Optional[int] = None
        #: ``uids()`` as ``scan`` read it, for a mailbox without ``IMailboxUIDWindow``.
        self._all_uids: Optional[list[int]] = None

    @classmethod
    async def open(cls, mail_store, folder_id: str, deletes_as_moves: bool = False):
        box = await mail_store.mailbox_by_id(folder_id)
        source = cls(mail_store, box, deletes_as_moves)
        source.validity = (await box.info()).uidvalidity
        return source

    async def lookup(self, server_id) -> Optional[Current]:
        uid = _uid(server_id)
        if uid is None:
            return None
        found = await self._box.messages(UIDSet.of([uid]))
        if not found:
            return None
        return Current(found[0].modseq, flags=found[0].flags, payload=found[0])

    async def highest(self) -> int:
        """The folder's HIGHESTMODSEQ."""
        return (await self._box.info()).highestmodseq

    async def changes(self, base: int, limit: Optional[int] = None) -> Changes:
        """The log above ``base`` (``limit`` is ignored: folders answer in full)."""
        got = await self._box.changes_since(base)
        if got.highestmodseq < base:
            # The folder's log went backwards (restored from a backup): the device's
            # view cannot be reconciled from it.
            raise SyncTokenInvalid("folder revision is below the device's state")
        return Changes(
            got.highestmodseq,
            tuple(Entry(str(m.uid), m.modseq, m) for m in got.changed),
            tuple(str(uid) for uid in got.expunged),
        )

    async def scan(self, after: int, limit: int, known) -> tuple[list[Entry], int, bool]:
        """The next ``limit`` messages above UID ``after`` the device does not hold.

        Fires with (entries, last UID looked at, whether the folder's end was reached).
        An initial sync walks the folder this way, by UID, so each window costs a read of
        the UIDs it looks at (where the mailbox has ``IMailboxUIDWindow``; a read of every
        UID where it has not) and one fetch of ``limit`` messages, not the change log.
        """
        picked: list[int] = []
        last = after
        self._all_uids = None
        while True:
            # One UID more than the window still needs: seeing it tells "more to come"
            # from "the folder ends here" without a round that finds nothing.
            want = limit - len(picked) + 1
            chunk = await self._uids_after(last, want)
            for uid in chunk:
                if len(picked) == limit:
                    done = False
                    break
                last = uid
                if str(uid) not in known:
                    picked.append(uid)
            else:
                if len(chunk) < want:
                    done = True
                    break
                continue  # the device held some of these: look further
            break
        found = await self._box.messages(UIDSet.of(picked)) if picked else []
        return [Entry(str(m.uid), m.modseq, m) for m in found], last, done

    async def _uids_after(self, after: int, limit: int) -> list[int]:
        """At most ``limit`` of the folder's UIDs above ``after``, ascending."""
        if IMailboxUIDWindow.providedBy(self._box):
            return await self._box.uids_after(after, limit)
        if self._all_uids is None:
            # A mailbox without the fast path: one read of every UID per scan.
            self._all_uids = await self._box.uids()
        start = bisect.bisect_right(self._all_uids, after)
        return self._all_uids[start:start + limit]

    async def count_after(self, after: int, known) -> int:
        """How many messages above UID ``after`` the device does not hold."""
        uids = await self._box.uids()
        return sum(1 for uid in uids[bisect.bisect_right(uids, after):] if str(uid) not in known)

    async def fetch(self, entries, known) -> list[tuple[Entry, ServerChange]]:
        return [
            (e, ServerChange(CHANGE if e.server_id in known else ADD, e.server_id, message=e.payload))
            for e in entries
        ]

    async def reread(self, server_ids) -> dict:
        """``server id -> ServerChange`` (an add, with the message as it is now) of those
        of ``server_ids`` that still exist."""
        uids = [uid for uid in map(_uid, server_ids) if uid is not None]
        found = await self._box.messages(UIDSet.of(uids)) if uids else []
        return {str(m.uid): ServerChange(ADD, str(m.uid), message=m) for m in found}

    async def add(self, change: ClientChange) -> tuple[str, int]:
        if change.content is None:
            raise InvalidData("a mail add needs the message")
        appended = await self._box.append(change.content, flags=change.flags or ())
        return str(appended.uid), appended.modseq

    def satisfied(self, current: Current, change: ClientChange) -> bool:
        if change.content is not None:
            return False
        return self._new_flags(current, change) == current.flags

    def _new_flags(self, current: Current, change: ClientChange) -> frozenset:
        # Flags compare case-insensitively; system flags are canonical in the store.
        removed = {f.lower() for f in change.flags_removed or ()}
        kept = {f for f in current.flags if f.lower() not in removed}
        have = {f.lower() for f in kept}
        return frozenset(kept | {f for f in change.flags or () if f.lower() not in have})

    async def change(self, server_id: str, current: Current, change: ClientChange) -> Optional[int]:
        """Apply a flag delta; fire with the new MODSEQ, None if nothing changed. Retries
        when another writer got in between (UNCHANGEDSINCE failed). A change with
        ``content`` replaces the message (``replace``) and fires with None."""
        if change.content is not None:
            await self.replace(server_id, current, change)
            return None
        uid = _uid(server_id)
        for _ in range(5):
            wanted = self._new_flags(current, change)
            if wanted == current.flags:
                return None
            done = await self._box.store_flags(
                UIDSet.of([uid]), FlagMode.SET, wanted, unchanged_since=current.revision
            )
            if done.changed:
                return done.changed[0].modseq
            if not done.modified:
                return None
            current = await self.lookup(server_id)
            if current is None:
                raise NotFound(f"message {server_id} is gone")
        raise NotFound(f"message {server_id} keeps changing")

    async def replace(self, server_id: str, current: Current, change: ClientChange) -> str:
        """Store ``change.content`` in place of message ``server_id`` with its flags and
        the change's flag delta; fire with the new message's server id.

        The old UID is gone afterwards, so a device holding it is sent its removal and
        the new message as an add (the caller records neither as held by the device)."""
        appended = await self._box.append(change.content, flags=self._new_flags(current, change))
        await self._box.remove(UIDSet.of([_uid(server_id)]))
        return str(appended.uid)

    async def recreate(self, server_id: str, change: ClientChange) -> int:
        raise NotFound(f"message {server_id} is gone")

    async def copy(self, change: ClientChange, current: Current) -> tuple[str, int]:
        raise NotImplementedError("mail has no keep-both copies")

    async def delete(self, server_id: str, current: Current) -> None:
        uids = UIDSet.of([_uid(server_id)])
        if self._deletes_as_moves:
            trash = await self._trash()
            if trash is not None:
                await self._box.move(uids, trash)
                return
        await self._box.remove(uids)

    async def _trash(self) -> Optional[str]:
        """The Trash folder's name, or None if there is none or this folder is it."""
        try:
            trash = await self._store.mailbox_by_role(Role.TRASH)
        except NotFound:
            return None
        if trash.id == self._box.id:
            return None
        return (await trash.info()).name


class CollectionSource:
    """A collection. Writes carry the etag read for the conflict check (``if_match``),
    so a change racing another writer fails instead of overwriting it."""

    kind = "collection"
    validity = None

    def __init__(self, collection, suffix: str):
        self._coll = collection
        self._suffix = suffix

    @classmethod
    async def open(cls, collections, collection_id: str):
        coll = await collections.collection_by_id(collection_id)
        info = await coll.info()
        return cls(coll, ".vcf" if info.kind == CollectionKind.ADDRESSBOOK else ".ics")

    async def lookup(self, server_id) -> Optional[Current]:
        if not isinstance(server_id, str) or not server_id:
            return None
        found = await self._coll.get([server_id])
        if not found:
            return None
        item = found[0]
        return Current(item.info.revision, etag=item.info.etag, content=item.content,
                       payload=item.info)

    async def changes(self, base: int, limit: Optional[int] = None) -> Changes:
        """The log above ``base``, at most about ``limit`` entries of it."""
        got = await self._coll.changes_since(base, limit)
        if got.truncated and got.revision <= base:
            # A cut that makes no progress (a store cutting inside one revision):
            # take the whole log rather than loop.
            got = await self._coll.changes_since(base)
        current = {i.name for i in got.changed}
        return Changes(
            got.revision,
            tuple(Entry(i.name, i.revision, i) for i in got.changed),
            # A name deleted and created again since is reported as changed, not gone.
            tuple(name for name in got.deleted if name not in current),
            got.truncated,
        )

    async def fetch(self, entries, known) -> list[tuple[Entry, ServerChange]]:
        """Read the contents of ``entries``. An item deleted meanwhile is left out (it
        is reported as deleted next round); one changed meanwhile is sent as it is now,
        with its newer revision."""
        items = {i.info.name: i for i in await self._coll.get([e.server_id for e in entries])}
        out = []
        for e in entries:
            item = items.get(e.server_id)
            if item is None:
                continue
            op = CHANGE if e.server_id in known else ADD
            out.append((Entry(e.server_id, item.info.revision, item.info),
                        ServerChange(op, e.server_id, item=item)))
        return out

    async def reread(self, server_ids) -> dict:
        """``server id -> ServerChange`` (an add, with the item as it is now) of those of
        ``server_ids`` that still exist."""
        items = await self._coll.get(list(server_ids))
        return {i.info.name: ServerChange(ADD, i.info.name, item=i) for i in items}

    def _new_name(self) -> str:
        return uuid.uuid4().hex + self._suffix

    async def add(self, change: ClientChange) -> tuple[str, int]:
        if change.content is None:
            raise InvalidData("an add needs content")
        name = self._new_name()
        info = await self._coll.put(name, change.content, if_none_match=True)
        return name, info.revision

    def satisfied(self, current: Current, change: ClientChange) -> bool:
        return change.content is not None and change.content == current.content

    async def change(self, server_id: str, current: Current, change: ClientChange) -> Optional[int]:
        if change.content is None:
            raise InvalidData("a change needs content")
        info = await self._coll.put(server_id, change.content, if_match=current.etag)
        return info.revision

    async def recreate(self, server_id: str, change: ClientChange) -> int:
        if change.content is None:
            raise InvalidData("a change needs content")
        info = await self._coll.put(server_id, change.content, if_none_match=True)
        return info.revision

    async def copy(self, change: ClientChange, current: Current) -> tuple[str, int]:
        """Store the device's version as a new item with a new UID."""
        if change.content is None:
            raise InvalidData("a change needs content")
        name = self._new_name()
        content = rewrite_uid(change.content, str(uuid.uuid4()))
        info = await self._coll.put(name, content, if_none_match=True)
        return name, info.revision

    async def delete(self, server_id: str, current: Current) -> None:
        await self._coll.delete(server_id, if_match=current.etag)

