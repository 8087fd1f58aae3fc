"""``IMailbox`` over SQLite: the shared SQL mailbox with bodies in files.

Message bodies live in body files (``bodies.py``) named by ``bodies`` rows; an append
goes through the database's pipeline (a preparer thread parses the message and writes
its file, the writer inserts the rows once the file is durable). Listings come from the
process's listing of each folder (``listing.py``); counters are kept by the schema's
triggers.
"""

from __future__ import annotations

from functools import partial
from typing import Optional

import attrs
from twisted.internet.defer import fail

from smsync._async import deferred
from smsync.errors import NotFound
from smsync.model import AppendResult, ChangeKind, CopyResult
from smsync.store.common import (
    body_bytes,
    check_range,
    check_ranges,
    internal_date_of,
    normalize_flags,
)
from smsync.store.sql.dialect import SQLITE
from smsync.store.sql.mailbox import SQLMailbox, folder_row
from smsync.store.sql.rows import flags_text
from smsync.store.sqlite import reads
from smsync.store.sqlite import rows as sqlite_rows


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
    data = body_bytes(body)
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


class SQLiteMailbox(SQLMailbox):
    """Handle on one folder (see the module docstring)."""

    dialect = SQLITE
    rows = sqlite_rows

    # -- reads ----------------------------------------------------------------------

    def _uids(self, conn):
        uids = self._store.listings.cached_uids(conn, self._pk)
        if uids is not None:
            return uids
        return super()._uids(conn)

    def _messages(self, conn, uids):
        # Answered from the process's listing of the folder, brought up to date from the
        # change log (see smsync.store.sqlite.listing).
        return self._store.listings.messages(conn, self._pk, uids)

    def _structures(self, conn, uids):
        return reads.structures(conn, self._store.bodies.root, self._pk, uids)

    @deferred
    async def read_body(self, uid, offset=0, length=None):
        check_range(offset, length)
        return await self._db.read(
            reads.read_body, self._store.bodies.root, self._pk, uid, offset, length
        )

    @deferred
    async def read_ranges(self, ranges):
        ranges = check_ranges(ranges)
        if not ranges:
            return []
        return await self._db.read(reads.read_ranges, self._store.bodies.root, self._pk, ranges)

    # -- writes ---------------------------------------------------------------------

    def append(self, body, flags=(), internal_date=None):
        # A plain function returning the pipeline's Deferred rather than a coroutine: this
        # is the hottest call of the store, and a coroutine wrapper costs as much as the
        # rest of the reactor-side work of an append.
        try:
            flagset = normalize_flags(flags)
            internal_date = internal_date_of(internal_date)
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

    def _copy(self, conn, ctx, uids, dest, move):
        folder_row(conn, SQLITE, self._pk)
        target = conn.execute(
            "SELECT id FROM folders WHERE name = ? AND account_id ="
            " (SELECT account_id FROM folders WHERE id = ?)",
            (dest, self._pk),
        ).fetchone()
        if target is None:
            raise NotFound(f"no folder {dest!r}")
        dpk = target[0]
        rows = sqlite_rows.select_uids(
            conn, self._pk, uids,
            "uid, body_id, flags, seen, deleted, internal_date, internal_tz, size,"
            " hdr_date, subject, from_addr",
        )
        dname, uidvalidity, uidnext, modseq, dfid, account = folder_row(conn, SQLITE, dpk)
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
            sname, _, _, smodseq, sfid, _ = folder_row(conn, SQLITE, self._pk)
            smodseq += 1
            self._remove_rows(conn, ctx, source_uids, smodseq)
            ctx.event(account, ChangeKind.MAIL, sname, smodseq, sfid)
        return CopyResult(uidvalidity, tuple(source_uids), tuple(new_uids))

    def _write_flags(self, conn, modseq, updates, unseen_delta):
        # The schema's triggers keep n_unseen.
        conn.execute("UPDATE folders SET modseq = ? WHERE id = ?", (modseq, self._pk))
        conn.executemany(
            "UPDATE messages SET flags = ?, seen = ?, deleted = ?, modseq = ?"
            " WHERE folder_id = ? AND uid = ?",
            [(text, seen, deleted, modseq, self._pk, uid) for uid, text, seen, deleted in updates],
        )

    def _remove_rows(self, conn, ctx, uids, modseq):
        conn.execute("UPDATE folders SET modseq = ? WHERE id = ?", (modseq, self._pk))
        remove_messages(conn, ctx, self._pk, uids, modseq)
        free_bodies(conn, ctx, self._store.bodies)
