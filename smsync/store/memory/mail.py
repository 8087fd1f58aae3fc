"""``IMailStore`` and ``IMailbox`` of the memory store.

Both are handles: they hold an account name (and a folder id) and look the state up on
every call, so a handle sees every other handle's changes, survives renames, and fails
with ``NotFound`` once its folder or account is gone. No method awaits anything, so each
operation is atomic with respect to every other.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable, Optional

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import AlreadyExists, Conflict, InvalidData, NotFound
from smsync.formats.message import parse_message
from smsync.interfaces import IMailbox, IMailboxRangeReads, IMailboxRecent, IMailboxUIDWindow, IMailStore
from smsync.model import (
    MAILBOX_SEPARATOR,
    AppendResult,
    ChangeEvent,
    ChangeKind,
    CopyResult,
    FlagMode,
    MailboxChanges,
    MailboxEntry,
    MailboxInfo,
    MessageInfo,
    StoreFlagsResult,
    UIDSet,
)
from smsync.store.common import (
    as_role,
    body_bytes,
    check_range,
    check_ranges,
    check_recent_uid,
    check_uid_window,
    internal_date_of,
    new_id,
    normalize_flags,
    normalize_mailbox_name,
    parent_names,
)
from smsync.store.memory.folder import DELETED, FolderState
from smsync.store.memory.sharing import forget_folder

if TYPE_CHECKING:
    from smsync.store.memory.accounts import AccountData
    from smsync.store.memory.backend import MemoryStore

INBOX = "INBOX"


def _entry(folder: FolderState) -> MailboxEntry:
    return MailboxEntry(
        id=folder.id, name=folder.name, role=folder.role, subscribed=folder.subscribed
    )


@implementer(IMailStore)
class MemoryMailStore:
    """One account's folders."""

    def __init__(self, store: "MemoryStore", account: str):
        self._store = store
        self.account = account

    def _data(self) -> "AccountData":
        return self._store._account_data(self.account)

    def _folder(self, name: str) -> FolderState:
        folder = self._data().folders.get(normalize_mailbox_name(name))
        if folder is None:
            raise NotFound(f"no folder {name!r}")
        return folder

    def _hierarchy_changed(self) -> None:
        self._store.notifier.notify(ChangeEvent(account=self.account, kind=ChangeKind.HIERARCHY))

    def _handle(self, folder: FolderState) -> "MemoryMailbox":
        return MemoryMailbox(self._store, self.account, folder.id)

    @deferred
    async def list_mailboxes(self) -> list[MailboxEntry]:
        folders = self._data().folders
        return [_entry(folders[name]) for name in sorted(folders)]

    @deferred
    async def mailbox(self, name: str) -> "MemoryMailbox":
        return self._handle(self._folder(name))

    @deferred
    async def mailbox_by_id(self, folder_id: str) -> "MemoryMailbox":
        folder = self._data().folders_by_id.get(folder_id)
        if folder is None:
            raise NotFound(f"no folder with id {folder_id!r}")
        return self._handle(folder)

    @deferred
    async def mailbox_by_role(self, role) -> "MemoryMailbox":
        folder = self._data().folder_with_role(as_role(role))
        if folder is None:
            raise NotFound(f"no folder has role {role!r}")
        return self._handle(folder)

    @deferred
    async def create_mailbox(self, name: str, role=None) -> MailboxEntry:
        data = self._data()
        name = normalize_mailbox_name(name)
        role = as_role(role)
        if name in data.folders:
            raise AlreadyExists(f"folder {name!r} already exists")
        if role is not None and data.folder_with_role(role) is not None:
            raise Conflict(f"role {role.value} is already held by another folder")
        for parent in parent_names(name):
            if parent not in data.folders:
                data.add_folder(FolderState(new_id(), parent, self._store._new_uidvalidity()))
        folder = FolderState(new_id(), name, self._store._new_uidvalidity(), role)
        data.add_folder(folder)
        self._hierarchy_changed()
        return _entry(folder)

    @deferred
    async def rename_mailbox(self, old: str, new: str) -> None:
        data = self._data()
        old = normalize_mailbox_name(old)
        new = normalize_mailbox_name(new)
        if old == INBOX:
            raise Conflict("INBOX cannot be renamed")
        folder = data.folders.get(old)
        if folder is None:
            raise NotFound(f"no folder {old!r}")
        if new == old:
            raise AlreadyExists(f"folder {new!r} already exists")
        prefix = old + MAILBOX_SEPARATOR
        if new.startswith(prefix):
            raise Conflict(f"cannot move {old!r} under itself")
        moving = [folder] + [f for n, f in data.folders.items() if n.startswith(prefix)]
        targets = {f.name: new + f.name[len(old) :] for f in moving}
        for target in targets.values():
            if target in data.folders:
                raise AlreadyExists(f"folder {target!r} already exists")
        for f in moving:
            data.drop_folder(f)
        for f in moving:
            f.name = targets[f.name]
            data.add_folder(f)
        for parent in parent_names(new):
            if parent not in data.folders:
                data.add_folder(FolderState(new_id(), parent, self._store._new_uidvalidity()))
        self._hierarchy_changed()

    @deferred
    async def delete_mailbox(self, name: str) -> None:
        data = self._data()
        name = normalize_mailbox_name(name)
        if name == INBOX:
            raise Conflict("INBOX cannot be deleted")
        folder = data.folders.get(name)
        if folder is None:
            raise NotFound(f"no folder {name!r}")
        data.drop_folder(folder)
        forget_folder(self._store, folder.id)
        self._hierarchy_changed()

    @deferred
    async def subscribe(self, name: str, subscribed: bool = True) -> None:
        folder = self._folder(name)
        if folder.subscribed != bool(subscribed):
            folder.subscribed = bool(subscribed)
            self._hierarchy_changed()

    @deferred
    async def set_role(self, name: str, role) -> None:
        data = self._data()
        folder = self._folder(name)
        role = as_role(role)
        if role is not None:
            holder = data.folder_with_role(role)
            if holder is not None and holder is not folder:
                raise Conflict(f"role {role.value} is already held by {holder.name!r}")
        if folder.role != role:
            folder.role = role
            self._hierarchy_changed()


@implementer(IMailbox, IMailboxRangeReads, IMailboxUIDWindow, IMailboxRecent)
class MemoryMailbox:
    """A handle on one folder, found by id on every call."""

    def __init__(self, store: "MemoryStore", account: str, folder_id: str):
        self._store = store
        self.account = account
        self.id = folder_id

    def __repr__(self) -> str:
        return f"<MemoryMailbox {self.account} {self.id}>"

    def _folder(self) -> FolderState:
        folder = self._store._account_data(self.account).folders_by_id.get(self.id)
        if folder is None:
            raise NotFound("the folder no longer exists")
        return folder

    def _changed(self, folder: FolderState) -> None:
        self._store.notifier.notify(
            ChangeEvent(
                account=self.account,
                kind=ChangeKind.MAIL,
                name=folder.name,
                revision=folder.highestmodseq,
                folder_id=folder.id,
            )
        )

    def _dest(self, name: str) -> FolderState:
        folder = self._store._account_data(self.account).folders.get(
            normalize_mailbox_name(name)
        )
        if folder is None:
            raise NotFound(f"no folder {name!r}")
        return folder

    @deferred
    async def info(self) -> MailboxInfo:
        return self._folder().info()

    @deferred
    async def uids(self) -> list[int]:
        return list(self._folder().uids)

    @deferred
    async def uids_after(self, after: int, limit: int) -> list[int]:
        after, limit = check_uid_window(after, limit)
        uids = self._folder().uids
        start = bisect_right(uids, after)
        return uids[start:start + limit]

    @deferred
    async def recent_mark(self) -> int:
        return self._folder().recent_mark

    @deferred
    async def claim_recent(self, uid: int) -> int:
        uid = check_recent_uid(uid)
        folder = self._folder()
        before = folder.recent_mark
        folder.recent_mark = max(before, uid)
        return before

    @deferred
    async def messages(self, uids: Optional[UIDSet] = None) -> list[MessageInfo]:
        folder = self._folder()
        return [folder.messages[uid].info for uid in folder.select(uids)]

    @deferred
    async def structures(self, uids: Iterable[int]) -> dict:
        folder = self._folder()
        messages = folder.messages
        if isinstance(uids, UIDSet):
            # Not what the interface names, but a protocol holding a UIDSet means the same.
            uids = folder.select(uids)
        out = {}
        for uid in uids:
            stored = messages.get(uid)
            if stored is not None:
                out[uid] = stored.structure
        return out

    @deferred
    async def read_body(self, uid: int, offset: int = 0, length: Optional[int] = None) -> bytes:
        stored = self._folder().messages.get(uid)
        if stored is None:
            raise NotFound(f"no message with UID {uid}")
        check_range(offset, length)
        end = None if length is None else offset + length
        # A memoryview slice copies only the bytes asked for, not the whole body.
        return bytes(memoryview(stored.body)[offset:end])

    @deferred
    async def read_ranges(self, ranges) -> list[Optional[bytes]]:
        checked = [
            (uid, offset, None if length is None else offset + length)
            for uid, offset, length in check_ranges(ranges)
        ]
        messages = self._folder().messages
        out: list[Optional[bytes]] = []
        for uid, offset, end in checked:
            stored = messages.get(uid)
            out.append(None if stored is None else bytes(memoryview(stored.body)[offset:end]))
        return out

    @deferred
    async def append(self, body, flags=(), internal_date: Optional[datetime] = None):
        folder = self._folder()
        data = body_bytes(body)
        flags = normalize_flags(flags)
        now = datetime.now(timezone.utc)
        internal_date = internal_date_of(internal_date, now)
        try:
            structure = parse_message(data)
        except Exception as e:  # parse_message promises not to raise; guard the store anyway
            raise InvalidData(f"message does not parse: {e}") from e
        modseq = folder.next_modseq()
        info = folder.add(data, structure, flags, internal_date, now, modseq)
        self._changed(folder)
        return AppendResult(uidvalidity=folder.uidvalidity, uid=info.uid, modseq=modseq)

    def _copy_into(self, source: FolderState, dest: FolderState, uids: list[int]) -> list[int]:
        now = datetime.now(timezone.utc)
        modseq = dest.next_modseq()
        out = []
        for uid in uids:
            stored = source.messages[uid]
            info = stored.info
            copied = dest.add(
                stored.body, stored.structure, info.flags, info.internal_date, now, modseq
            )
            out.append(copied.uid)
        return out

    @deferred
    async def copy(self, uids: UIDSet, dest: str) -> CopyResult:
        source = self._folder()
        target = self._dest(dest)
        picked = source.select(uids)
        if not picked:
            return CopyResult(uidvalidity=target.uidvalidity, source_uids=(), dest_uids=())
        new_uids = self._copy_into(source, target, picked)
        self._changed(target)
        return CopyResult(
            uidvalidity=target.uidvalidity, source_uids=tuple(picked), dest_uids=tuple(new_uids)
        )

    @deferred
    async def move(self, uids: UIDSet, dest: str) -> CopyResult:
        source = self._folder()
        target = self._dest(dest)
        picked = source.select(uids)
        if not picked:
            return CopyResult(uidvalidity=target.uidvalidity, source_uids=(), dest_uids=())
        # Nothing below can fail, so copy-then-expunge is atomic as promised.
        new_uids = self._copy_into(source, target, picked)
        # Moving within one folder is one operation: the expunge shares the copy's modseq.
        modseq = source.highestmodseq if source is target else source.next_modseq()
        source.remove(picked, modseq)
        self._changed(target)
        if source is not target:
            self._changed(source)
        return CopyResult(
            uidvalidity=target.uidvalidity, source_uids=tuple(picked), dest_uids=tuple(new_uids)
        )

    @deferred
    async def store_flags(
        self, uids: UIDSet, mode, flags, unchanged_since: Optional[int] = None
    ) -> StoreFlagsResult:
        folder = self._folder()
        try:
            mode = FlagMode(mode)
        except ValueError:
            raise InvalidData(f"unknown flag mode {mode!r}") from None
        given = {f.lower(): f for f in normalize_flags(flags)}
        modified: list[int] = []
        unchanged: list[MessageInfo] = []
        to_change: list[tuple[int, frozenset[str]]] = []
        for uid in folder.select(uids):
            info = folder.messages[uid].info
            if unchanged_since is not None and info.modseq > unchanged_since:
                modified.append(uid)
                continue
            new = _combine(info.flags, mode, given)
            if new is None:
                unchanged.append(info)
            else:
                to_change.append((uid, new))
        changed: list[MessageInfo] = []
        if to_change:
            modseq = folder.next_modseq()
            changed = [folder.set_flags(uid, new, modseq) for uid, new in to_change]
            self._changed(folder)
        return StoreFlagsResult(
            changed=tuple(changed), modified=tuple(modified), unchanged=tuple(unchanged)
        )

    def _remove(self, folder: FolderState, uids: list[int]) -> list[int]:
        if not uids:
            return []
        gone = folder.remove(uids, folder.next_modseq())
        self._changed(folder)
        return gone

    @deferred
    async def expunge(self, uids: Optional[UIDSet] = None) -> list[int]:
        folder = self._folder()
        picked = folder.select(uids)
        return self._remove(
            folder, [uid for uid in picked if DELETED in folder.messages[uid].info.flags]
        )

    @deferred
    async def remove(self, uids: UIDSet) -> list[int]:
        folder = self._folder()
        return self._remove(folder, folder.select(uids))

    @deferred
    async def changes_since(self, modseq: int) -> MailboxChanges:
        return self._folder().changes_since(modseq)


def _combine(current: frozenset[str], mode: FlagMode, given: dict[str, str]):
    """The flags after applying ``given`` (lower-case -> spelling) with ``mode``, or None
    when they would not change. Keywords compare case-insensitively and keep the
    spelling the message already has."""
    have = {f.lower(): f for f in current}
    if mode is FlagMode.SET:
        new = {k: have.get(k, v) for k, v in given.items()}
    elif mode is FlagMode.ADD:
        new = dict(have)
        for k, v in given.items():
            new.setdefault(k, v)
    else:
        new = {k: v for k, v in have.items() if k not in given}
    if new.keys() == have.keys():
        return None
    return frozenset(new.values())
