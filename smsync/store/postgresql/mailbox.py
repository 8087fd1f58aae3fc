"""``IMailbox`` over PostgreSQL: the shared SQL mailbox with bodies in the database.

Every method reads the folder's current state (the handle only remembers the folder's
row id), so handles in several processes see each other's changes. Every write locks
the folder's row first -- an append does it with the same ``UPDATE ... RETURNING`` that
allocates its UID and MODSEQ -- so writers of one folder are serialised across
processes, UIDs and MODSEQs are handed out atomically and in commit order, and an
``unchanged_since`` check sees every change committed before it.
"""

from __future__ import annotations


from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

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
from smsync.store.postgresql import rows as pg_rows
from smsync.store.postgresql.rows import select_uids, to_us
from smsync.store.sql.dialect import POSTGRESQL
from smsync.store.sql.mailbox import SQLMailbox
from smsync.store.sql.rows import flags_text

_INT_MAX = (1 << 31) - 1


def release_bodies(conn, body_ids: list[int]) -> None:
    """Drop one reference to each body in ``body_ids`` (repeats count) and delete the
    bodies nobody refers to any more."""
    if not body_ids:
        return
    counts: dict[int, int] = {}
    for body_id in body_ids:
        counts[body_id] = counts.get(body_id, 0) + 1
    conn.execute(
        "UPDATE bodies b SET refs = b.refs - c.n"
        " FROM unnest(%s::bigint[], %s::int[]) AS c(id, n) WHERE b.id = c.id",
        (list(counts), list(counts.values())),
    )
    conn.execute("DELETE FROM bodies WHERE id = ANY(%s) AND refs <= 0", (list(counts),))


def remove_rows(conn, pk: int, uids: list[int], modseq: int) -> None:
    """Delete ``uids`` of folder ``pk`` (whose row is locked) leaving tombstones stamped
    ``modseq``; keep the folder's counters and the bodies' references right."""
    rows = conn.execute(
        "DELETE FROM messages WHERE folder_id = %s AND uid = ANY(%s)"
        " RETURNING size, seen, body_id",
        (pk, uids),
    ).fetchall()
    conn.execute(
        "INSERT INTO expunged (folder_id, uid, modseq) SELECT %s, u, %s FROM unnest(%s::bigint[]) u"
        " ON CONFLICT (folder_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq",
        (pk, modseq, uids),
    )
    conn.execute(
        "UPDATE folders SET modseq = %s, n_exists = n_exists - %s, n_size = n_size - %s,"
        " n_unseen = n_unseen - %s WHERE id = %s",
        (modseq, len(rows), sum(r[0] for r in rows), sum(1 for r in rows if not r[1]), pk),
    )
    release_bodies(conn, [r[2] for r in rows])


def prepare_body(body):
    """``(data, structure blob)`` of a body being appended: read and parsed. Blocking."""
    from smsync.formats.message import parse_message, structure_to_bytes

    data = body_bytes(body)
    return data, structure_to_bytes(parse_message(data))


# Appends to one folder queued together are stored by ONE statement: the folder row is
# updated once (allocating n UIDs and n MODSEQs, under its row lock), the bodies and the
# message rows inserted from arrays. Body ids are drawn from the sequence up front so
# each message row names its own body.
_APPEND = (
    "WITH f AS ("
    " UPDATE folders SET uidnext = uidnext + %(n)s, modseq = modseq + %(n)s,"
    "  n_exists = n_exists + %(n)s, n_size = n_size + %(total)s, n_unseen = n_unseen + %(unseen)s"
    " WHERE id = %(pk)s RETURNING name, uidvalidity, uidnext - %(n)s AS uid0, modseq - %(n)s AS modseq0),"
    " d AS MATERIALIZED (SELECT u.*, nextval('bodies_id_seq') AS bid FROM unnest("
    "  %(size)s::bigint[], %(structure)b::bytea[], %(body)b::bytea[], %(flags)s::text[],"
    "  %(seen)s::bool[], %(deleted)s::bool[], %(idate)s::bigint[], %(itz)s::int[])"
    "  WITH ORDINALITY AS u(size, structure, body, flags, seen, deleted, idate, itz, i)),"
    " b AS (INSERT INTO bodies (id, refs, size, structure, body)"
    "  SELECT d.bid, 1, d.size, d.structure, d.body FROM d, f),"
    " m AS (INSERT INTO messages (folder_id, uid, body_id, flags, seen, deleted, internal_us,"
    "  internal_tz, saved_us, size, modseq)"
    "  SELECT %(pk)s, f.uid0 + d.i - 1, d.bid, d.flags, d.seen, d.deleted, d.idate, d.itz,"
    "  %(now)s, d.size, f.modseq0 + d.i FROM d, f)"
    " SELECT name, uidvalidity, uid0, modseq0 FROM f"
)


class PGMailbox(SQLMailbox):
    """Handle on one folder (see the module docstring)."""

    dialect = POSTGRESQL
    rows = pg_rows

    # -- reads ----------------------------------------------------------------------

    def _structures(self, conn, uids):
        from smsync.formats.message import structure_from_bytes

        self._folder_row(conn)
        uids = [u for u in uids if 0 < u < (1 << 63)]
        return {
            uid: structure_from_bytes(blob)
            for uid, blob in conn.execute(
                "SELECT m.uid, b.structure FROM messages m JOIN bodies b ON b.id = m.body_id"
                " WHERE m.folder_id = %s AND m.uid = ANY(%s)",
                (self._pk, uids),
            )
        }

    @deferred
    async def read_body(self, uid, offset=0, length=None):
        check_range(offset, length)
        if not isinstance(uid, int) or not 0 < uid < (1 << 63):
            raise NotFound(f"no message with UID {uid}")
        row = await self._db.read(self._read_body, uid, offset, length)
        if row is None:
            raise NotFound(f"no message with UID {uid}")
        return row[0]

    def _read_body(self, conn, uid, offset, length):
        self._folder_row(conn)
        if length == 0 or offset >= _INT_MAX:
            sql, args = "SELECT ''::bytea", ()
        elif length is None:
            sql, args = "SELECT substring(b.body FROM %s)", (offset + 1,)
        else:
            # Only the TOAST chunks covering the range are read (STORAGE EXTERNAL).
            sql, args = "SELECT substring(b.body FROM %s FOR %s)", (offset + 1, min(length, _INT_MAX))
        return conn.execute(
            sql + " FROM messages m JOIN bodies b ON b.id = m.body_id"
            " WHERE m.folder_id = %s AND m.uid = %s",
            (*args, self._pk, uid),
        ).fetchone()

    @deferred
    async def read_ranges(self, ranges):
        uids, starts, lengths = [], [], []
        for uid, offset, length in check_ranges(ranges):
            # A UID no folder can hold matches no row (and still gets its None).
            uids.append(uid if isinstance(uid, int) and 0 < uid < (1 << 63) else 0)
            if offset >= _INT_MAX:
                starts.append(_INT_MAX)
                lengths.append(0)
            else:
                starts.append(offset + 1)
                lengths.append(None if length is None else min(length, _INT_MAX))
        if not uids:
            return []
        found = await self._db.read(self._read_ranges, uids, starts, lengths)
        return [found.get(i) for i in range(1, len(uids) + 1)]

    def _read_ranges(self, conn, uids, starts, lengths):
        self._folder_row(conn)
        # One statement for every range: only the TOAST chunks each range covers are read.
        return dict(
            conn.execute(
                "SELECT r.i, CASE WHEN r.len IS NULL THEN substring(b.body FROM r.start)"
                " ELSE substring(b.body FROM r.start FOR r.len) END"
                " FROM unnest(%s::bigint[], %s::int[], %s::int[]) WITH ORDINALITY"
                "  AS r(uid, start, len, i)"
                " JOIN messages m ON m.folder_id = %s AND m.uid = r.uid"
                " JOIN bodies b ON b.id = m.body_id",
                (uids, starts, lengths, self._pk),
            ).fetchall()
        )

    # -- writes ---------------------------------------------------------------------

    @deferred
    async def append(self, body, flags=(), internal_date=None):
        flagset = normalize_flags(flags)
        internal_date = internal_date_of(internal_date)
        # A pipeline without a reactor round trip in between: an I/O thread reads and
        # parses the body, then queues the row for the writer's next group commit.
        d = Deferred()
        self._db.iopool.callInThread(self._append_pipeline, body, flagset, internal_date, d)
        return await d

    def _append_pipeline(self, body, flags, idate, d: Deferred) -> None:
        try:
            data, structure = prepare_body(body)
        except Exception:
            self._db.reactor.callFromThread(d.errback, Failure())
            return
        self._db.submit_grouped(
            ("append", self._pk), self._append, (data, structure, flags, idate), d
        )

    def _append(self, conn, ctxs, jobs):
        """Store the messages of ``jobs`` (each ``(data, structure, flags, idate)``) with
        one statement; their ``AppendResult``s in order."""
        columns = {k: [] for k in ("size", "structure", "body", "flags", "seen", "deleted", "idate", "itz")}
        for data, structure, flags, idate in jobs:
            columns["size"].append(len(data))
            columns["structure"].append(structure)
            columns["body"].append(data)
            columns["flags"].append(flags_text(flags))
            columns["seen"].append("\\Seen" in flags)
            columns["deleted"].append("\\Deleted" in flags)
            columns["idate"].append(to_us(idate))
            columns["itz"].append(int(idate.utcoffset().total_seconds()))
        n = len(jobs)
        row = conn.execute(
            _APPEND,
            {
                "pk": self._pk, "n": n, "total": sum(columns["size"]),
                "unseen": n - sum(columns["seen"]), "now": ctxs[0].now_us, **columns,
            },
        ).fetchone()
        if row is None:
            raise NotFound("folder no longer exists")
        name, uidvalidity, uid0, modseq0 = row
        results = []
        for i, ctx in enumerate(ctxs):
            ctx.event(self.account, ChangeKind.MAIL, name, modseq0 + i + 1, self.id)
            results.append(AppendResult(uidvalidity, uid0 + i, modseq0 + i + 1))
        return results

    def _copy(self, conn, ctx, uids, dest, move):
        # Lock source and destination in id order: two copies in opposite directions
        # cannot deadlock.
        locked = conn.execute(
            "SELECT f.id, f.name, f.fid, a.name FROM folders f JOIN accounts a ON a.id = f.account_id"
            " WHERE f.id = %s OR (f.name = %s AND f.account_id ="
            "  (SELECT account_id FROM folders WHERE id = %s))"
            " ORDER BY f.id FOR UPDATE OF f",
            (self._pk, dest, self._pk),
        ).fetchall()
        by_id = {r[0]: r for r in locked}
        if self._pk not in by_id:
            raise NotFound("folder no longer exists")
        target = [r for r in locked if r[1] == dest]
        if not target:
            raise NotFound(f"no folder {dest!r}")
        dpk, dname, dfid, account = target[0]
        rows = select_uids(
            conn, self._pk, uids,
            "uid, body_id, flags, seen, deleted, internal_us, internal_tz, size",
        )
        if not rows:
            uidvalidity = conn.execute(
                "SELECT uidvalidity FROM folders WHERE id = %s", (dpk,)
            ).fetchone()[0]
            return CopyResult(uidvalidity, (), ())
        n = len(rows)
        uidvalidity, first, modseq = conn.execute(
            "UPDATE folders SET uidnext = uidnext + %s, modseq = modseq + 1,"
            " n_exists = n_exists + %s, n_size = n_size + %s, n_unseen = n_unseen + %s"
            " WHERE id = %s RETURNING uidvalidity, uidnext - %s, modseq",
            (n, n, sum(r[7] for r in rows), sum(1 for r in rows if not r[3]), dpk, n),
        ).fetchone()
        new_uids = list(range(first, first + n))
        columns = list(zip(*rows))
        conn.execute(
            "INSERT INTO messages (folder_id, uid, body_id, flags, seen, deleted, internal_us,"
            " internal_tz, saved_us, size, modseq)"
            " SELECT %s, u.uid, u.body_id, u.flags, u.seen, u.deleted, u.internal_us, u.internal_tz,"
            "  %s, u.size, %s FROM unnest(%s::bigint[], %s::bigint[], %s::text[],"
            "  %s::bool[], %s::bool[], %s::bigint[], %s::int[], %s::bigint[])"
            "  AS u(uid, body_id, flags, seen, deleted, internal_us, internal_tz, size)",
            (dpk, ctx.now_us, modseq, new_uids, list(columns[1]), list(columns[2]),
             list(columns[3]), list(columns[4]), list(columns[5]), list(columns[6]),
             list(columns[7])),
        )
        ctx.event(account, ChangeKind.MAIL, dname, modseq, dfid)
        source_uids = [r[0] for r in rows]
        counts: dict[int, int] = {}
        for body_id in columns[1]:
            counts[body_id] = counts.get(body_id, 0) + 1
        conn.execute(
            "UPDATE bodies b SET refs = b.refs + c.n"
            " FROM unnest(%s::bigint[], %s::int[]) AS c(id, n) WHERE b.id = c.id",
            (list(counts), list(counts.values())),
        )
        if move:
            _, sname, sfid, _ = by_id[self._pk]
            (smodseq,) = conn.execute(
                "SELECT modseq + 1 FROM folders WHERE id = %s", (self._pk,)
            ).fetchone()
            remove_rows(conn, self._pk, source_uids, smodseq)
            ctx.event(account, ChangeKind.MAIL, sname, smodseq, sfid)
        return CopyResult(uidvalidity, tuple(source_uids), tuple(new_uids))

    def _write_flags(self, conn, modseq, updates, unseen_delta):
        conn.execute(
            "UPDATE folders SET modseq = %s, n_unseen = n_unseen + %s WHERE id = %s",
            (modseq, unseen_delta, self._pk),
        )
        uids, texts, seen, deleted = (list(c) for c in zip(*updates))
        conn.execute(
            "UPDATE messages m SET flags = u.flags, seen = u.seen, deleted = u.deleted,"
            " modseq = %s FROM unnest(%s::bigint[], %s::text[], %s::bool[], %s::bool[])"
            " AS u(uid, flags, seen, deleted) WHERE m.folder_id = %s AND m.uid = u.uid",
            (modseq, uids, texts, seen, deleted, self._pk),
        )

    def _remove_rows(self, conn, ctx, uids, modseq):
        remove_rows(conn, self._pk, uids, modseq)
