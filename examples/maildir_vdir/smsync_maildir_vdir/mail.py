"""``IMailStore`` and ``IMailbox`` over a Maildir++ tree (see ``folders``)."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import timezone

from zope.interface import implementer

from smsync.errors import AlreadyExists, Conflict, InvalidData, NotFound
from smsync.interfaces import IMailbox, IMailStore
from smsync.model import (
    AppendResult,
    ChangeEvent,
    ChangeKind,
    CopyResult,
    FlagMode,
    MailboxChanges,
    MailboxInfo,
    MessageInfo,
    Role,
    StoreFlagsResult,
    UIDSet,
)
from smsync.store.base import MailboxBase, MailStoreBase
from smsync.store.common import as_role, normalize_flags, normalize_mailbox_name, parent_names

from .files import (
    MAILDIR_LETTERS,
    copy_stream,
    fsync_dir,
    maildir_info,
    split_maildir_name,
    from_iso,
    to_iso,
    unique_maildir_name,
    utcnow,
)
from .folders import FolderState, MaildirTree, MessageRecord
from .worker import on_disk


@implementer(IMailStore)
class MailStore(MailStoreBase):
    """One account's folder tree. Folder methods check names with
    ``smsync.store.common`` and announce every change as ``ChangeKind.HIERARCHY``."""

    def __init__(self, disk, account: str, root: str):
        self._disk = disk
        self.account = account
        self._tree = MaildirTree(root)

    def _hierarchy_changed(self) -> None:
        self._disk.changed(ChangeEvent(self.account, ChangeKind.HIERARCHY))

    def _handle(self, path: str, state: FolderState) -> "Mailbox":
        return Mailbox(self._disk, self.account, self._tree, state.id, path)

    @on_disk
    def list_mailboxes(self):
        return sorted((state.entry() for _, state in self._tree.folders()), key=lambda e: e.name)

    @on_disk
    def mailbox(self, name):
        return self._handle(*self._tree.get(normalize_mailbox_name(name)))

    def _check_role_free(self, role: Role | None, except_id: str | None = None) -> None:
        for _, state in self._tree.folders():
            if role is not None and state.role == role.value and state.id != except_id:
                raise Conflict(f"folder {state.name!r} already has role {role.value!r}")

    @on_disk
    def create_mailbox(self, name, role=None):
        name, role = normalize_mailbox_name(name), as_role(role)
        if self._tree.find(name) is not None:
            raise AlreadyExists(f"folder {name!r} exists")
        self._check_role_free(role)
        for parent in parent_names(name):
            if self._tree.find(parent) is None:
                self._tree.make(parent, None)
        state = self._tree.make(name, role)
        self._hierarchy_changed()
        return state.entry()

    @on_disk
    def rename_mailbox(self, old, new):
        old, new = normalize_mailbox_name(old), normalize_mailbox_name(new)
        if old == "INBOX":
            raise Conflict("INBOX cannot be renamed")
        self._tree.get(old)
        if new == old or new.startswith(old + "/"):
            raise Conflict(f"cannot rename {old!r} onto itself or below itself")
        moving = [
            (path, state)
            for path, state in self._tree.folders()
            if state.name == old or state.name.startswith(old + "/")
        ]
        targets = {state.name: new + state.name[len(old):] for _, state in moving}
        for target in targets.values():
            if self._tree.find(target) is not None:
                raise AlreadyExists(f"folder {target!r} exists")
        for parent in parent_names(new):
            if self._tree.find(parent) is None:
                self._tree.make(parent, None)
        for path, state in moving:
            state.name = targets[state.name]
            new_path = self._tree.folder_dir(state.name)
            os.rename(path, new_path)
            state.save(new_path)
        self._hierarchy_changed()

    @on_disk
    def delete_mailbox(self, name):
        name = normalize_mailbox_name(name)
        if name == "INBOX":
            raise Conflict("INBOX cannot be deleted")
        path, _ = self._tree.get(name)
        self._tree.remove(path)
        self._hierarchy_changed()

    @on_disk
    def subscribe(self, name, subscribed=True):
        path, state = self._tree.get(normalize_mailbox_name(name))
        state.subscribed = bool(subscribed)
        state.save(path)
        self._hierarchy_changed()

    @on_disk
    def set_role(self, name, role):
        role = as_role(role)
        path, state = self._tree.get(normalize_mailbox_name(name))
        self._check_role_free(role, except_id=state.id)
        state.role = role.value if role else None
        state.save(path)
        self._hierarchy_changed()


def _flags(record: MessageRecord) -> frozenset:
    return split_maildir_name(record.file)[1] | frozenset(record.keywords)


def _message_info(uid: int, record: MessageRecord) -> MessageInfo:
    return MessageInfo(
        uid=uid,
        flags=_flags(record),
        internal_date=from_iso(record.internal_date),
        saved_date=from_iso(record.saved_date),
        size=record.size,
        modseq=record.modseq,
    )


def _select(state: FolderState, uids) -> list[int]:
    """The UIDs of ``state`` in ``uids`` (a UIDSet, any iterable of ints, or None for
    all), ascending."""
    present = sorted(state.messages)
    if uids is None:
        return present
    if isinstance(uids, UIDSet):
        if not present:
            return []
        ranges = list(uids.bounded(present[-1]))
        return [uid for uid in present if any(lo <= uid <= hi for lo, hi in ranges)]
    wanted = set(uids)
    return [uid for uid in present if uid in wanted]


def _combine(current: frozenset, mode: FlagMode, given: frozenset) -> frozenset:
    # Keywords compare case-insensitively and keep the spelling they were first given.
    have = {f.lower(): f for f in current}
    if mode is FlagMode.SET:
        return frozenset(have.get(f.lower(), f) for f in given)
    if mode is FlagMode.ADD:
        return frozenset({**{f.lower(): f for f in given}, **have}.values())
    drop = {f.lower() for f in given}
    return frozenset(f for key, f in have.items() if key not in drop)


def _keywords(flags) -> list:
    """The flags a Maildir file name cannot hold, kept in the state file instead."""
    return sorted(f for f in flags if f not in MAILDIR_LETTERS)


@implementer(IMailbox)
class Mailbox(MailboxBase):
    """A handle on one folder, found by id on every call so it survives renames. Every
    change bumps the folder's MODSEQ once and is announced as ``ChangeKind.MAIL``."""

    def __init__(self, disk, account: str, tree: MaildirTree, folder_id: str, path: str):
        self._disk = disk
        self.account = account
        self._tree = tree
        self.id = folder_id
        self._path = path

    def _open(self) -> tuple[str, FolderState]:
        self._path, state = self._tree.get_by_id(self.id, hint=self._path)
        return self._path, state

    def _commit(self, path: str, state: FolderState) -> None:
        state.save(path)
        self._disk.changed(
            ChangeEvent(
                self.account, ChangeKind.MAIL, state.name, state.highestmodseq, state.id
            )
        )

    @on_disk
    def info(self):
        _, state = self._open()
        unseen = [uid for uid, rec in state.messages.items() if "\\Seen" not in _flags(rec)]
        return MailboxInfo(
            id=state.id,
            name=state.name,
            role=Role(state.role) if state.role else None,
            uidvalidity=state.uidvalidity,
            uidnext=state.uidnext,
            highestmodseq=state.highestmodseq,
            exists=len(state.messages),
            unseen=len(unseen),
            size=sum(rec.size for rec in state.messages.values()),
            first_unseen_uid=min(unseen, default=None),
        )

    @on_disk
    def uids(self):
        return sorted(self._open()[1].messages)

    @on_disk
    def messages(self, uids=None):
        _, state = self._open()
        return [_message_info(uid, state.messages[uid]) for uid in _select(state, uids)]

    @on_disk
    def read_body(self, uid, offset=0, length=None):
        if offset < 0 or (length is not None and length < 0):
            raise InvalidData("negative offset or length")
        path, state = self._open()
        if uid not in state.messages:
            raise NotFound(f"no message with UID {uid}")
        with open(os.path.join(path, "cur", state.messages[uid].file), "rb") as f:
            f.seek(offset)
            return f.read() if length is None else f.read(length)

    @on_disk
    def append(self, body, flags=(), internal_date=None):
        flags = normalize_flags(flags)
        if internal_date is None:
            internal_date = utcnow()
        elif internal_date.tzinfo is None:
            internal_date = internal_date.replace(tzinfo=timezone.utc)
        path, state = self._open()
        # Maildir delivery: write under tmp/, fsync, then rename into cur/ -- only
        # then does the state file (our commit point) name the message.
        tmp = os.path.join(path, "tmp", uuid.uuid4().hex)
        try:
            size = copy_stream(body, tmp)
            file = unique_maildir_name(size) + maildir_info(flags)
            os.rename(tmp, os.path.join(path, "cur", file))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        fsync_dir(os.path.join(path, "cur"))
        uid = state.uidnext
        state.uidnext += 1
        state.highestmodseq += 1
        state.messages[uid] = MessageRecord(
            file=file,
            keywords=_keywords(flags),
            internal_date=to_iso(internal_date),
            saved_date=to_iso(utcnow()),
            size=size,
            modseq=state.highestmodseq,
        )
        try:
            self._commit(path, state)
        except BaseException:
            os.unlink(os.path.join(path, "cur", file))
            raise
        return AppendResult(state.uidvalidity, uid, state.highestmodseq)

    def _copy_into(self, src_path, src, uids, dest_name):
        """Link the messages ``uids`` of ``src`` into folder ``dest_name`` under one new
        modseq; returns (dest path, dest state, CopyResult), nothing committed yet."""
        dst_path, dst = self._tree.get(normalize_mailbox_name(dest_name))
        if dst.id == src.id:
            dst = src
        selected = _select(src, uids)
        if not selected:
            return dst_path, dst, CopyResult(dst.uidvalidity, (), ())
        dst.highestmodseq += 1
        now, new_uids = to_iso(utcnow()), []
        for uid in selected:
            rec = src.messages[uid]
            file = unique_maildir_name(rec.size) + maildir_info(_flags(rec))
            target = os.path.join(dst_path, "cur", file)
            try:
                os.link(os.path.join(src_path, "cur", rec.file), target)
            except OSError:  # e.g. another file system: copy instead
                shutil.copyfile(os.path.join(src_path, "cur", rec.file), target)
            dst.messages[dst.uidnext] = MessageRecord(
                file=file,
                keywords=list(rec.keywords),
                internal_date=rec.internal_date,
                saved_date=now,
                size=rec.size,
                modseq=dst.highestmodseq,
            )
            new_uids.append(dst.uidnext)
            dst.uidnext += 1
        fsync_dir(os.path.join(dst_path, "cur"))
        return dst_path, dst, CopyResult(dst.uidvalidity, tuple(selected), tuple(new_uids))

    @on_disk
    def copy(self, uids, dest):
        src_path, src = self._open()
        dst_path, dst, result = self._copy_into(src_path, src, uids, dest)
        if result.dest_uids:
            self._commit(dst_path, dst)
        return result

    @on_disk
    def move(self, uids, dest):
        src_path, src = self._open()
        dst_path, dst, result = self._copy_into(src_path, src, uids, dest)
        if not result.dest_uids:
            return result
        # A move within one folder is one transaction: it shares the copy's modseq.
        files = self._drop(src, result.source_uids, bump=dst is not src)
        if dst is not src:
            self._commit(dst_path, dst)
        self._commit(src_path, src)
        self._unlink(src_path, files)
        return result

    @on_disk
    def store_flags(self, uids, mode, flags, unchanged_since=None):
        try:
            mode = FlagMode(mode)
        except ValueError:
            raise InvalidData(f"unknown flag mode {mode!r}") from None
        flags = normalize_flags(flags)
        path, state = self._open()
        changed, modified, unchanged = [], [], []
        for uid in _select(state, uids):
            rec = state.messages[uid]
            if unchanged_since is not None and rec.modseq > unchanged_since:
                modified.append(uid)
                continue
            current = _flags(rec)
            new = _combine(current, mode, flags)
            if {f.lower() for f in new} == {f.lower() for f in current}:
                unchanged.append(_message_info(uid, rec))
            else:
                changed.append((uid, new))
        if changed:
            state.highestmodseq += 1
            for uid, new in changed:
                rec = state.messages[uid]
                unique, _ = split_maildir_name(rec.file)
                file = unique + maildir_info(new)
                os.rename(os.path.join(path, "cur", rec.file), os.path.join(path, "cur", file))
                rec.file, rec.keywords, rec.modseq = file, _keywords(new), state.highestmodseq
            fsync_dir(os.path.join(path, "cur"))
            self._commit(path, state)
        return StoreFlagsResult(
            changed=tuple(_message_info(uid, state.messages[uid]) for uid, _ in changed),
            modified=tuple(modified),
            unchanged=tuple(unchanged),
        )

    @staticmethod
    def _drop(state: FolderState, uids, bump=True) -> list:
        """Forget the messages ``uids``, leaving tombstones. Returns their files, to be
        unlinked once the state file no longer names them (a crash in between leaves a
        stray file, never a UID without its message)."""
        if bump:
            state.highestmodseq += 1
        files = []
        for uid in uids:
            files.append(state.messages.pop(uid).file)
            state.expunged.append([uid, state.highestmodseq])
        return files

    @staticmethod
    def _unlink(path: str, files: list) -> None:
        for file in files:
            try:
                os.unlink(os.path.join(path, "cur", file))
            except FileNotFoundError:
                pass

    def _remove(self, uids_of) -> list:
        path, state = self._open()
        doomed = uids_of(state)
        if doomed:
            files = self._drop(state, doomed)
            self._commit(path, state)
            self._unlink(path, files)
        return doomed

    @on_disk
    def expunge(self, uids=None):
        return self._remove(
            lambda state: [
                uid for uid in _select(state, uids) if "\\Deleted" in _flags(state.messages[uid])
            ]
        )

    @on_disk
    def remove(self, uids):
        return self._remove(lambda state: _select(state, uids))

    @on_disk
    def changes_since(self, modseq):
        _, state = self._open()
        return MailboxChanges(
            highestmodseq=state.highestmodseq,
            changed=tuple(
                _message_info(uid, rec)
                for uid, rec in sorted(state.messages.items())
                if rec.modseq > modseq
            ),
            expunged=tuple(sorted(uid for uid, ms in state.expunged if ms > modseq)),
        )
