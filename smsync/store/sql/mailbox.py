"""``IMailbox`` over SQL: one folder's messages.

Every method reads the folder's current state (the handle only remembers the folder's
row id), so handles in several processes see each other's changes. Each write bumps the
folder's MODSEQ once and stamps everything it touched with the new value; it locks the
folder's row first (where the dialect has row locks), so writers of one folder are
serialised across processes and an ``unchanged_since`` check sees every change
committed before it.

What the two databases do differently -- where bodies live and how an append reaches
them, how rows are selected and written in bulk -- is in the hooks of ``SQLMailbox``
that each backend fills in.
"""

from __future__ import annotations

from types import ModuleType

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IMailbox, IMailboxRangeReads, IMailboxRecent, IMailboxSelect, IMailboxUIDWindow
from smsync.model import (
    ChangeKind,
    FlagMode,
    MailboxChanges,
    MailboxInfo,
    Role,
    StoreFlagsResult,
)
from smsync.store.common import check_recent_uid, check_uid_window, normalize_flags, normalize_mailbox_name
from smsync.store.sql.dialect import Dialect
from smsync.store.sql.handles import RowHandle
from smsync.store.sql.rows import flags_of, flags_text

_BIGINT = 1 << 63


def folder_row(conn, dialect: Dialect, pk: int, lock: bool = False):
    """``(name, uidvalidity, uidnext, modseq, fid, account)`` of folder ``pk``; NotFound.
    ``lock`` takes the folder's row lock (for writes)."""
    row = conn.execute(
        dialect.q(
            "SELECT f.name, f.uidvalidity, f.uidnext, f.modseq, f.fid, a.name"
            " FROM folders f JOIN accounts a ON a.id = f.account_id WHERE f.id = ?"
            + (dialect.update_lock_of.format("f") if lock else "")
        ),
        (pk,),
    ).fetchone()
    if row is None:
        raise NotFound("folder no longer exists")
    return row


def destination_name(dest) -> str:
    """The normalised name of a copy's or move's destination; NotFound if it cannot be."""
    try:
        return normalize_mailbox_name(dest)
    except InvalidData:
        raise NotFound(f"no folder {dest!r}") from None


def check_modseq(value, what="MODSEQ") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidData(f"not a {what}: {value!r}")


def new_flags(mode: FlagMode, wanted: dict, current: dict) -> dict:
    """The flags (``lowercase -> as given``) a message has after a STORE of ``wanted`` in
    ``mode`` on ``current``; a keyword keeps the case it was first given."""
    if mode is FlagMode.SET:
        new = dict(wanted)
        for key in new.keys() & current.keys():
            new[key] = current[key]
        return new
    if mode is FlagMode.ADD:
        return {**wanted, **current}
    return {k: v for k, v in current.items() if k not in wanted}


@implementer(IMailbox, IMailboxRangeReads, IMailboxSelect, IMailboxUIDWindow, IMailboxRecent)
class SQLMailbox(RowHandle):
    """Handle on one folder (see the module docstring).

    A backend sets ``dialect`` and ``rows`` and fills in the hooks; ``append``, ``_copy``,
    ``read_body`` and ``read_ranges`` are its own.
    """

    dialect: Dialect
    #: The backend's row module: ``MSG_COLS`` (the columns of ``messages`` that
    #: ``message_info(row)`` turns into a ``MessageInfo``: uid, flags, internal date, its
    #: zone, saved date, size, modseq) and ``select_uids(conn, pk, uids, cols)`` (the
    #: rows, uid first, of folder ``pk`` whose UID is in the UIDSet ``uids``, None: all,
    #: ascending by UID, each once; ``InvalidData`` if not a UIDSet).
    rows: ModuleType

    def _folder_row(self, conn, lock=False):
        return folder_row(conn, self.dialect, self._pk, lock)

    # Hooks.

    def _structures(self, conn, uids: list[int]) -> dict:
        """``uid -> MessageStructure`` of those of ``uids`` in this folder."""
        raise NotImplementedError

    def _write_flags(self, conn, modseq: int, updates: list, unseen_delta: int) -> None:
        """Give the folder ``modseq`` and each ``(uid, flags text, seen, deleted)`` of
        ``updates`` its flags stamped ``modseq``; ``unseen_delta`` is the change in the
        number of unseen messages."""
        raise NotImplementedError

    def _remove_rows(self, conn, ctx, uids: list[int], modseq: int) -> None:
        """Delete ``uids`` leaving tombstones stamped ``modseq``, give the folder
        ``modseq`` and release the bodies nobody refers to any more."""
        raise NotImplementedError

    # Reads.

    @deferred
    async def info(self):
        return await self._db.read(self._info)

    def _info(self, conn):
        row = conn.execute(
            self._q(
                "SELECT fid, name, role, uidvalidity, uidnext, modseq, n_exists, n_unseen, n_size, recent_uid,"
                " (SELECT MIN(uid) FROM messages WHERE folder_id = ? AND "
                + self.dialect.unseen
                + ") FROM folders WHERE id = ?"
            ),
            (self._pk, self._pk),
        ).fetchone()
        if row is None:
            raise NotFound("folder no longer exists")
        fid, name, role, uidvalidity, uidnext, modseq, exists, unseen, size, recent, first = row
        return MailboxInfo(
            fid, name, Role(role) if role else None, uidvalidity, uidnext, modseq,
            exists, unseen, size, first, recent,
        )

    @deferred
    async def uids(self):
        return await self._db.read(self._uids)

    def _uids(self, conn):
        self._folder_row(conn)
        return [
            r[0]
            for r in conn.execute(
                self._q("SELECT uid FROM messages WHERE folder_id = ? ORDER BY uid"),
                (self._pk,),
            )
        ]

    @deferred
    async def uids_after(self, after, limit):
        after, limit = check_uid_window(after, limit)
        return await self._db.read(self._uids_after, after, limit)

    def _uids_after(self, conn, after, limit):
        # The sync engine's walk by UID asks this once a round: an index range scan of
        # ``limit`` rows, where ``uids()`` would read the whole folder each time.
        self._folder_row(conn)
        return [
            r[0]
            for r in conn.execute(
                self._q("SELECT uid FROM messages WHERE folder_id = ? AND uid > ? ORDER BY uid LIMIT ?"),
                (self._pk, after, limit),
            )
        ]

    @deferred
    async def info_and_uids(self):
        """``(info(), uids())`` from one read transaction: one thread hop for IMAP SELECT
        instead of two, and the UIDs agree with the counts."""
        return await self._db.read(self._info_and_uids)

    def _info_and_uids(self, conn):
        return self._info(conn), self._uids(conn)

    @deferred
    async def recent_mark(self):
        return await self._db.read(self._recent_mark)

    def _recent_mark(self, conn, lock=False):
        row = conn.execute(
            self._q("SELECT recent_uid FROM folders WHERE id = ?" + (self.dialect.update_lock if lock else "")),
            (self._pk,),
        ).fetchone()
        if row is None:
            raise NotFound("folder no longer exists")
        return row[0]

    @deferred
    async def claim_recent(self, uid):
        uid = check_recent_uid(uid)
        # Most claims take nothing (a SELECT of a folder nothing arrived in since the
        # last one): a read answers those without queueing a durable write.
        before = await self._db.read(self._recent_mark)
        if before >= uid:
            return before
        return await self._db.write(self._claim_recent, uid)

    def _claim_recent(self, conn, ctx, uid):
        # The row lock (PostgreSQL) or the one writer (SQLite) makes the read and the
        # raise one step for every process: two claims never both get a message.
        before = self._recent_mark(conn, lock=True)
        if before < uid:
            conn.execute(self._q("UPDATE folders SET recent_uid = ? WHERE id = ?"), (uid, self._pk))
        return before

    @deferred
    async def messages(self, uids=None):
        return await self._db.read(self._messages, uids)

    def _messages(self, conn, uids):
        self._folder_row(conn)
        info = self.rows.message_info
        return [info(r) for r in self.rows.select_uids(conn, self._pk, uids, self.rows.MSG_COLS)]

    @deferred
    async def structures(self, uids):
        try:
            wanted = [int(u) for u in uids]
        except (TypeError, ValueError):
            raise InvalidData("UIDs are integers") from None
        return await self._db.read(self._structures, wanted)

    @deferred
    async def changes_since(self, modseq):
        check_modseq(modseq)
        # A MODSEQ beyond what the database can hold is beyond every one there is.
        modseq = max(min(modseq, _BIGINT - 1), -_BIGINT)
        return await self._db.read(self._changes_since, modseq)

    def _changes_since(self, conn, modseq):
        highest = self._folder_row(conn)[3]
        # Sorted here rather than by the database, which could then prefer walking the
        # whole folder in UID order to the MODSEQ index.
        changed = conn.execute(
            self._q(f"SELECT {self.rows.MSG_COLS} FROM messages WHERE folder_id = ? AND modseq > ?"),
            (self._pk, modseq),
        ).fetchall()
        changed.sort(key=lambda r: r[0])
        expunged = sorted(
            r[0]
            for r in conn.execute(
                self._q("SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ?"),
                (self._pk, modseq),
            )
        )
        info = self.rows.message_info
        return MailboxChanges(highest, tuple(info(r) for r in changed), tuple(expunged))

    # Writes.

    @deferred
    async def copy(self, uids, dest):
        return await self._db.write(self._copy, uids, destination_name(dest), False)

    @deferred
    async def move(self, uids, dest):
        return await self._db.write(self._copy, uids, destination_name(dest), True)

    def _copy(self, conn, ctx, uids, dest: str, move: bool):
        """Copy (or move) ``uids`` to folder ``dest`` (a normalised name); a CopyResult."""
        raise NotImplementedError

    @deferred
    async def store_flags(self, uids, mode, flags, unchanged_since=None):
        mode = FlagMode(mode)
        flagset = normalize_flags(flags)
        if unchanged_since is not None:
            check_modseq(unchanged_since)
        return await self._db.write(self._store_flags, uids, mode, flagset, unchanged_since)

    def _store_flags(self, conn, ctx, uids, mode, flags, unchanged_since):
        name, _, _, modseq, fid, account = self._folder_row(conn, lock=True)
        rows = self.rows.select_uids(conn, self._pk, uids, self.rows.MSG_COLS)
        info = self.rows.message_info
        modseq += 1
        wanted = {f.lower(): f for f in flags}
        changed, modified, unchanged, updates = [], [], [], []
        unseen_delta = 0
        for row in rows:
            uid, text, _, _, _, _, mseq = row
            if unchanged_since is not None and mseq > unchanged_since:
                modified.append(uid)
                continue
            current = {f.lower(): f for f in flags_of(text)}
            new = new_flags(mode, wanted, current)
            if new.keys() == current.keys():
                unchanged.append(info(row))
                continue
            values = frozenset(new.values())
            text = flags_text(values)
            seen = "\\Seen" in values
            unseen_delta += ("\\seen" in current) - seen
            updates.append((uid, text, seen, "\\Deleted" in values))
            changed.append(info((uid, text, *row[2:6], modseq)))
        if updates:
            self._write_flags(conn, modseq, updates, unseen_delta)
            ctx.event(account, ChangeKind.MAIL, name, modseq, fid)
        return StoreFlagsResult(tuple(changed), tuple(modified), tuple(unchanged))

    @deferred
    async def expunge(self, uids=None):
        return await self._db.write(self._remove, uids, True)

    @deferred
    async def remove(self, uids):
        return await self._db.write(self._remove, uids, False)

    def _remove(self, conn, ctx, uids, only_deleted):
        name, _, _, modseq, fid, account = self._folder_row(conn, lock=True)
        if only_deleted and uids is None:
            gone = [
                r[0]
                for r in conn.execute(
                    self._q(
                        "SELECT uid FROM messages WHERE folder_id = ? AND deleted ORDER BY uid"
                    ),
                    (self._pk,),
                )
            ]
        elif only_deleted:
            gone = [r[0] for r in self.rows.select_uids(conn, self._pk, uids, "uid, deleted") if r[1]]
        else:
            gone = [r[0] for r in self.rows.select_uids(conn, self._pk, uids, "uid")]
        if not gone:
            return []
        modseq += 1
        self._remove_rows(conn, ctx, gone, modseq)
        ctx.event(account, ChangeKind.MAIL, name, modseq, fid)
        return gone

