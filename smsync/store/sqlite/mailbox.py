"""``IMailbox`` over SQLite: one folder's messages.

Every method reads the folder's current state (the handle only remembers the folder's
row id), so handles in several processes see each other's changes. Each write is one
job of the writer thread: it bumps the folder's MODSEQ once and stamps everything it
touched with the new value.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from functools import partial

import attrs
from twisted.internet.defer import fail
from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IMailbox
from smsync.model import (
    AppendResult,
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
from smsync.store.common import normalize_flags, normalize_mailbox_name
from smsync.store.sql.rows import (  # noqa: F401 (flags_text, zone re-exported)
    MESSAGE_INFO_SLOTS,
    _flag_sets as FLAG_SETS,
    flags_of,
    flags_text,
    new_message_info,
    zone,
)
from smsync.store.sqlite import reads

_MSG_COLS = "uid, flags, internal_date, internal_tz, saved_date, size, modseq"
_MAX_UID = (1 << 32) - 1
#: Above this many ranges a UIDSet is answered by one range scan filtered in Python.
_MAX_RANGE_QUERIES = 16

# Shared with the PostgreSQL store; re-exported for listing.py and reads.py.
_flag_sets = FLAG_SETS
_new = new_message_info
_slot_set = MESSAGE_INFO_SLOTS


def message_info(row, _utc=timezone.utc, _ts=datetime.fromtimestamp) -> MessageInfo:
    """The MessageInfo of a row ``(uid, flags, internal_date, internal_tz, saved_date,
    size, modseq)``."""
    uid, flags, idate, itz, sdate, size, modseq = row
    set_uid, set_flags, set_idate, set_sdate, set_size, set_modseq = _slot_set
    info = _new(MessageInfo)
    set_uid(info, uid)
    set_flags(info, flags_of(flags))
    set_idate(info, _ts(idate, zone(itz)))
    set_sdate(info, _ts(sdate, _utc))
    set_size(info, size)
    set_modseq(info, modseq)
    return info


def folder_row(conn, pk: int):
    """``(name, role, uidvalidity, uidnext, modseq, fid, account)`` of folder ``pk``; NotFound."""
    row = conn.execute(
        "SELECT f.name, f.role, f.uidvalidity, f.uidnext, f.modseq, f.fid, a.name"
        " FROM folders f JOIN accounts a ON a.id = f.account_id WHERE f.id = ?",
        (pk,),
    ).fetchone()
    if row is None:
        raise NotFound("folder no longer exists")
    return row


def select_uids(conn, pk: int, uids: Optional[UIDSet], cols: str) -> list:
    """Rows (``cols``, first column must be uid) of folder ``pk`` whose UID is in ``uids``
    (None: all), ascending by UID, each once."""
    if uids is None:
        return conn.execute(
            f"SELECT {cols} FROM messages WHERE folder_id = ? ORDER BY uid", (pk,)
        ).fetchall()
    if not isinstance(uids, UIDSet):
        raise InvalidData("UID sets must be smsync.model.UIDSet values")
    highest = conn.execute("SELECT MAX(uid) FROM messages WHERE folder_id = ?", (pk,)).fetchone()[0]
    if highest is None:
        return []
    ranges = sorted(
        (max(1, lo), min(hi, _MAX_UID)) for lo, hi in uids.bounded(highest) if hi >= 1
    )
    if not ranges:
        return []
    if len(ranges) > _MAX_RANGE_QUERIES:
        rows = conn.execute(
            f"SELECT {cols} FROM messages WHERE folder_id = ? AND uid BETWEEN ? AND ?"
            " ORDER BY uid",
            (pk, ranges[0][0], max(hi for _, hi in ranges)),
        ).fetchall()
        return [r for r in rows if any(lo <= r[0] <= hi for lo, hi in ranges)]
    out, seen = [], set()
    for lo, hi in ranges:
        for r in conn.execute(
            f"SELECT {cols} FROM messages WHERE folder_id = ? AND uid BETWEEN ? AND ?"
            " ORDER BY uid",
            (pk, lo, hi),
        ):
            if r[0] not in seen:
                seen.add(r[0])
                out.append(r)
    if len(ranges) > 1:
        out.sort(key=lambda r: r[0])
    return out


def free_bodies(conn, ctx, bodies) -> None:
    """Drop body rows no message refers to any more; unlink their files after the commit."""
    for (path,) in conn.execute("DELETE FROM bodies WHERE refs <= 0 RETURNING path").fetchall():
        ctx.after_commit.append(lambda path=path: bodies.unlink(path))


def remove_messages(conn, ctx, pk: int, uids: list[int], modseq: int) -> None:
    """Delete ``uids`` of folder ``pk`` leaving tombstones stamped ``modseq``."""
    conn.executemany(
        "INSERT OR REPLACE INTO expunged (folder_id, uid, modseq) VALUES (?, ?, ?)",
        [(pk, uid, modseq) for uid in uids],
    )
    conn.executemany(
        "DELETE FROM messages WHERE folder_id = ? AND uid = ?", [(pk, uid) for uid in uids]
    )


@attrs.frozen
class PreparedBody:
    """A body written to its file, with what the metadata row needs."""

    path: str
    directory: str
    size: int
    structure: bytes
    hdr_date: Optional[float]
    subject: Optional[str]
    from_addr: Optional[str]


_codec_functions = None


def _codec():
    """``(parse_message, structure_to_bytes)``, imported on first use: the formats are
    heavy and a store opened only to read need not load them. Cached, because an import
    statement costs microseconds even when the module is loaded, on every append."""
    global _codec_functions
    if _codec_functions is None:
        from smsync.formats.message import parse_message, structure_to_bytes

        _codec_functions = parse_message, structure_to_bytes
    return _codec_functions


def prepare_body(bodies, body) -> PreparedBody:
    """Read ``body`` (bytes or a binary file), parse it and write it to a body file
    (durable once the database writer has synced it). Blocking."""
    parse_message, structure_to_bytes = _codec()
    if hasattr(body, "read"):
        data = body.read()
    elif isinstance(body, (bytearray, memoryview)):
        data = bytes(body)
    else:
        data = body
    if not isinstance(data, bytes):
        raise InvalidData("a message body must be bytes or a binary file")
    structure = parse_message(data)
    blob = structure_to_bytes(structure)
    date = getattr(structure, "date", None)
    try:
        hdr_date = date.timestamp() if date is not None else None
    except (OverflowError, ValueError, OSError):
        hdr_date = None
    path, directory = bodies.write(data)
    return PreparedBody(
        path,
        directory,
        len(data),
        blob,
        hdr_date,
        getattr(structure, "subject", None),
        getattr(structure, "from_", None),
    )


@attrs.frozen
class PreparedAppend:
    """What an append's rows need, computed off the writer thread."""

    body: PreparedBody
    flags: str
    seen: bool
    deleted: bool
    stamp: float
    offset: int


def _prepare_append(bodies, body, flags, stamp, offset):
    """The pipeline's prepare step for an append: ``(PreparedAppend, directory)``."""
    prepared = prepare_body(bodies, body)
    value = PreparedAppend(
        prepared, flags_text(flags), "\\Seen" in flags, "\\Deleted" in flags, stamp, offset
    )
    return value, prepared.directory


def _discard_append(bodies, value: PreparedAppend) -> None:
    """Undo ``_prepare_append``: the append was refused, no row names its body."""
    bodies.unlink(value.body.path)


@implementer(IMailbox)
class SQLiteMailbox:
    """Handle on one folder (see the module docstring)."""

    def __init__(self, store, account: str, pk: int, fid: str):
        self._store = store
        self._db = store.db
        self._pk = pk
        self.id = fid
        self.account = account

    def __repr__(self):
        return f"<SQLiteMailbox {self.account} {self.id}>"

    # -- reads ----------------------------------------------------------------------

    @deferred
    async def info(self):
        return await self._db.read(self._info)

    def _info(self, conn):
        row = conn.execute(
            "SELECT fid, name, role, uidvalidity, uidnext, modseq, n_exists, n_unseen, n_size"
            " FROM folders WHERE id = ?",
            (self._pk,),
        ).fetchone()
        if row is None:
            raise NotFound("folder no longer exists")
        fid, name, role, uidvalidity, uidnext, modseq, exists, unseen, size = row
        first = conn.execute(
            "SELECT MIN(uid) FROM messages WHERE folder_id = ? AND seen = 0", (self._pk,)
        ).fetchone()[0]
        return MailboxInfo(
            fid, name, Role(role) if role else None, uidvalidity, uidnext, modseq,
            exists, unseen, size, first,
        )

    @deferred
    async def uids(self):
        return await self._db.read(self._uids)

    def _uids(self, conn):
        uids = self._store.listings.cached_uids(conn, self._pk)
        if uids is not None:
            return uids
        folder_row(conn, self._pk)
        return [
            r[0]
            for r in conn.execute(
                "SELECT uid FROM messages WHERE folder_id = ? ORDER BY uid", (self._pk,)
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
    async def messages(self, uids=None):
        return await self._db.read(self._messages, uids)

    def _messages(self, conn, uids):
        # Answered from the process's listing of the folder, brought up to date from the
        # change log (see smsync.store.sqlite.listing).
        return self._store.listings.messages(conn, self._pk, uids)

    @deferred
    async def structures(self, uids):
        uids = [int(u) for u in uids]
        return await self._db.read(reads.structures, self._store.bodies.root, self._pk, uids)

    @deferred
    async def read_body(self, uid, offset=0, length=None):
        reads.check_range(offset, length)
        return await self._db.read(
            reads.read_body, self._store.bodies.root, self._pk, uid, offset, length
        )

    @deferred
    async def read_ranges(self, ranges):
        ranges = reads.check_ranges(ranges)
        if not ranges:
            return []
        return await self._db.read(reads.read_ranges, self._store.bodies.root, self._pk, ranges)

    @deferred
    async def changes_since(self, modseq):
        if isinstance(modseq, bool) or not isinstance(modseq, int):
            raise InvalidData(f"not a MODSEQ: {modseq!r}")
        return await self._db.read(self._changes_since, modseq)

    def _changes_since(self, conn, modseq):
        highest = folder_row(conn, self._pk)[4]
        changed = conn.execute(
            f"SELECT {_MSG_COLS} FROM messages WHERE folder_id = ? AND modseq > ?",
            (self._pk, modseq),
        ).fetchall()
        changed.sort(key=lambda r: r[0])
        expunged = [
            r[0]
            for r in conn.execute(
                "SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ?", (self._pk, modseq)
            )
        ]
        expunged.sort()
        return MailboxChanges(highest, tuple(message_info(r) for r in changed), tuple(expunged))

    # -- writes ---------------------------------------------------------------------

    def append(self, body, flags=(), internal_date=None):
        # A plain function returning the pipeline's Deferred rather than a coroutine: this
        # is the hottest call of the store, and a coroutine wrapper costs as much as the
        # rest of the reactor-side work of an append.
        try:
            flagset = normalize_flags(flags)
            if internal_date is None:
                internal_date = datetime.now(timezone.utc)
            elif not isinstance(internal_date, datetime):
                raise InvalidData("internal_date must be a datetime")
            elif internal_date.tzinfo is None:
                internal_date = internal_date.replace(tzinfo=timezone.utc)
            # The date's parts are computed here so the writer does no datetime work.
            stamp = internal_date.timestamp()
            offset = int(internal_date.utcoffset().total_seconds())
            # The folder is the lane: UIDs follow the order of append calls on this folder.
            return self._db.pipeline(
                self._pk,
                partial(_prepare_append, self._store.bodies, body, flagset, stamp, offset),
                self._append_rows,
                partial(_discard_append, self._store.bodies),
            )
        except Exception:
            return fail()

    def _append_rows(self, conn, ctx, appends: list):
        """Insert the rows of prepared appends (in call order); one UID and MODSEQ each."""
        # The hottest job of all: a fixed number of statements per folder and round, the
        # rows going in through executemany.
        row = conn.execute(
            "SELECT name, uidvalidity, uidnext, modseq FROM folders WHERE id = ?", (self._pk,)
        ).fetchone()
        if row is None:
            raise NotFound("folder no longer exists")
        name, uidvalidity, uidnext, modseq = row
        count = len(appends)
        # Body ids are chosen here (the writer holds the write lock) so that the messages
        # can name them without a round trip per row for lastrowid.
        first_body = conn.execute("SELECT IFNULL(MAX(id), 0) + 1 FROM bodies").fetchone()[0]
        conn.executemany(
            "INSERT INTO bodies (id, path, size, structure) VALUES (?, ?, ?, ?)",
            [(first_body + i, a.body.path, a.body.size, a.body.structure)
             for i, a in enumerate(appends)],
        )
        now = ctx.now
        pk = self._pk
        conn.executemany(
            "INSERT INTO messages (folder_id, uid, body_id, flags, seen, deleted, internal_date,"
            " internal_tz, saved_date, size, modseq, hdr_date, subject, from_addr)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (pk, uidnext + i, first_body + i, a.flags, a.seen, a.deleted, a.stamp,
                 a.offset, now, a.body.size, modseq + 1 + i, a.body.hdr_date, a.body.subject,
                 a.body.from_addr)
                for i, a in enumerate(appends)
            ],
        )
        conn.execute(
            "UPDATE folders SET uidnext = ?, modseq = ? WHERE id = ?",
            (uidnext + count, modseq + count, pk),
        )
        # One event for the lot: subscribers re-read the folder from the revision it names.
        ctx.event(self.account, ChangeKind.MAIL, name, modseq + count, self.id)
        return [AppendResult(uidvalidity, uidnext + i, modseq + 1 + i) for i in range(count)]

    @deferred
    async def copy(self, uids, dest):
        return await self._db.write(self._copy, uids, dest, False)

    @deferred
    async def move(self, uids, dest):
        return await self._db.write(self._copy, uids, dest, True)

    def _copy(self, conn, ctx, uids, dest, move):
        folder_row(conn, self._pk)
        try:
            dest = normalize_mailbox_name(dest)
        except InvalidData:
            raise NotFound(f"no folder {dest!r}") from None
        target = conn.execute(
            "SELECT id FROM folders WHERE name = ? AND account_id ="
            " (SELECT account_id FROM folders WHERE id = ?)",
            (dest, self._pk),
        ).fetchone()
        if target is None:
            raise NotFound(f"no folder {dest!r}")
        dpk = target[0]
        rows = select_uids(
            conn, self._pk, uids,
            "uid, body_id, flags, seen, deleted, internal_date, internal_tz, size,"
            " hdr_date, subject, from_addr",
        )
        dname, _, uidvalidity, uidnext, modseq, dfid, account = folder_row(conn, dpk)
        if not rows:
            return CopyResult(uidvalidity, (), ())
        modseq += 1
        new_uids = list(range(uidnext, uidnext + len(rows)))
        conn.execute(
            "UPDATE folders SET uidnext = ?, modseq = ? WHERE id = ?",
            (uidnext + len(rows), modseq, dpk),
        )
        conn.executemany(
            "INSERT INTO messages (folder_id, uid, body_id, flags, seen, deleted, internal_date,"
            " internal_tz, saved_date, size, modseq, hdr_date, subject, from_addr)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (dpk, new, r[1], r[2], r[3], r[4], r[5], r[6], ctx.now, r[7], modseq, *r[8:])
                for new, r in zip(new_uids, rows)
            ],
        )
        ctx.event(account, ChangeKind.MAIL, dname, modseq, dfid)
        source_uids = [r[0] for r in rows]
        if move:
            sname, _, _, _, smodseq, sfid, _ = folder_row(conn, self._pk)
            smodseq += 1
            conn.execute("UPDATE folders SET modseq = ? WHERE id = ?", (smodseq, self._pk))
            remove_messages(conn, ctx, self._pk, source_uids, smodseq)
            free_bodies(conn, ctx, self._store.bodies)
            ctx.event(account, ChangeKind.MAIL, sname, smodseq, sfid)
        return CopyResult(uidvalidity, tuple(source_uids), tuple(new_uids))

    @deferred
    async def store_flags(self, uids, mode, flags, unchanged_since=None):
        mode = FlagMode(mode)
        flagset = normalize_flags(flags)
        return await self._db.write(self._store_flags, uids, mode, flagset, unchanged_since)

    def _store_flags(self, conn, ctx, uids, mode, flags, unchanged_since):
        name, _, _, _, modseq, fid, account = folder_row(conn, self._pk)
        rows = select_uids(conn, self._pk, uids, _MSG_COLS)
        modseq += 1
        wanted = {f.lower(): f for f in flags}
        changed, modified, unchanged, updates = [], [], [], []
        for row in rows:
            uid, text, _, _, _, _, mseq = row
            if unchanged_since is not None and mseq > unchanged_since:
                modified.append(uid)
                continue
            current = {f.lower(): f for f in flags_of(text)}
            if mode is FlagMode.SET:
                new = dict(wanted)
                for key in new.keys() & current.keys():
                    new[key] = current[key]  # a keyword keeps the case it was first given
            elif mode is FlagMode.ADD:
                new = {**wanted, **current}
            else:
                new = {k: v for k, v in current.items() if k not in wanted}
            if new.keys() == current.keys():
                unchanged.append(message_info(row))
                continue
            values = frozenset(new.values())
            text = flags_text(values)
            updates.append(
                (text, "\\Seen" in values, "\\Deleted" in values, modseq, self._pk, uid)
            )
            changed.append(message_info((uid, text, *row[2:6], modseq)))
        if updates:
            conn.execute("UPDATE folders SET modseq = ? WHERE id = ?", (modseq, self._pk))
            conn.executemany(
                "UPDATE messages SET flags = ?, seen = ?, deleted = ?, modseq = ?"
                " WHERE folder_id = ? AND uid = ?",
                updates,
            )
            ctx.event(account, ChangeKind.MAIL, name, modseq, fid)
        return StoreFlagsResult(tuple(changed), tuple(modified), tuple(unchanged))

    @deferred
    async def expunge(self, uids=None):
        return await self._db.write(self._remove, uids, True)

    @deferred
    async def remove(self, uids):
        return await self._db.write(self._remove, uids, False)

    def _remove(self, conn, ctx, uids, only_deleted):
        name, _, _, _, modseq, fid, account = folder_row(conn, self._pk)
        if only_deleted:
            if uids is None:
                gone = [
                    r[0]
                    for r in conn.execute(
                        "SELECT uid FROM messages WHERE folder_id = ? AND deleted = 1"
                        " ORDER BY uid",
                        (self._pk,),
                    )
                ]
            else:
                gone = [r[0] for r in select_uids(conn, self._pk, uids, "uid, deleted") if r[1]]
        else:
            gone = [r[0] for r in select_uids(conn, self._pk, uids, "uid")]
        if not gone:
            return []
        modseq += 1
        conn.execute("UPDATE folders SET modseq = ? WHERE id = ?", (modseq, self._pk))
        remove_messages(conn, ctx, self._pk, gone, modseq)
        free_bodies(conn, ctx, self._store.bodies)
        ctx.event(account, ChangeKind.MAIL, name, modseq, fid)
        return gone
