"""The readers of a ``sqlite:`` store's database: the reader pool, and the reading of
events that other processes commit.

A reader thread (``READERS``) has its own connection: WAL lets it read while the writer
writes. The ``events`` table is read for other processes' changes on a thread and a
connection of its own (``feedpool``), so a ring of the doorbell is answered at once even
while a long read (a 100,000-message listing) holds the reader.
"""

from __future__ import annotations

import sqlite3
import threading

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from smsync.model import ChangeEvent, ChangeKind
from smsync.store.sqlite.connection import connect

#: Reader threads. One: the reads are short and mostly hold the GIL, and with three the
#: server's CPU per IMAP operation doubled whenever the machine had a core to spare for
#: them (GIL hand-offs across cores, we think; docs/performance.md, issue 3).
#: A long read (a 100,000-message listing) does make the others wait behind it.
READERS = 1


class Readers:
    """The reading half of ``Database`` (a mixin; see the module docstring).

    The host provides ``path``, ``origin`` and ``_reactor``, and calls ``_init_readers``
    from its constructor; it starts and stops ``readpool`` and ``feedpool`` and closes
    ``_reader_connections()``.
    """

    def _init_readers(self) -> None:
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._local = threading.local()
        self._poll_conn: sqlite3.Connection | None = None
        self._poll_lock = threading.Lock()
        self._poll_version = None
        self.readpool = ThreadPool(minthreads=1, maxthreads=READERS, name="smsync-sqlite-read")
        self.feedpool = ThreadPool(minthreads=1, maxthreads=1, name="smsync-sqlite-feed")

    def _reader_connections(self) -> list[sqlite3.Connection]:
        """Every connection the readers opened so far."""
        return [c for c in [self._poll_conn, *self._readers] if c is not None]

    # -- reads ----------------------------------------------------------------------

    def read(self, fn, *args) -> Deferred:
        """Run ``fn(conn, *args)`` in one read transaction on a reader thread.
        ``RuntimeError`` once the store is closed (its pool would never run it)."""
        if self._closed:
            raise RuntimeError("store is closed")
        return deferToThreadPool(self._reactor, self.readpool, self._read_in_thread, fn, args)

    def _read_in_thread(self, fn, args):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            conn.execute("PRAGMA query_only = 1")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        conn.execute("BEGIN")
        try:
            return fn(conn, *args)
        finally:
            conn.execute("COMMIT")


    # -- the change feed of other processes -----------------------------------------------

    def poll_foreign_events(self, after: int | None) -> Deferred:
        """Fire with ``(last_seq, [ChangeEvent...])``: events committed by other processes
        after sequence number ``after`` (None: just find the current position)."""
        return deferToThreadPool(self._reactor, self.feedpool, self._poll, after)

    def _poll(self, after):
        with self._poll_lock:
            if self._poll_conn is None:
                self._poll_conn = connect(self.path)
            conn = self._poll_conn
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if after is not None and version == self._poll_version:
                return after, []
            self._poll_version = version
            if after is None:
                row = conn.execute("SELECT MAX(seq) FROM events").fetchone()
                return (row[0] or 0), []
            rows = conn.execute(
                "SELECT seq, origin, account, kind, name, revision, folder_id FROM events"
                " WHERE seq > ? ORDER BY seq",
                (after,),
            ).fetchall()
            last = rows[-1][0] if rows else after
            events = [
                ChangeEvent(account, ChangeKind(kind), name, revision, folder_id)
                for _, origin, account, kind, name, revision, folder_id in rows
                if origin != self.origin
            ]
            return last, events
