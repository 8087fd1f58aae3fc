"""The SQLite database behind a ``sqlite:`` store: the writer and the readers, composed.

``Database`` joins the two halves, each in its own module:

* ``writer``: durability, the writer thread with its group commit, and the append
  pipeline (``write``, ``submit``, ``pipeline``, ``when_body_durable``);
* ``reader``: the reader pool and the reading of other processes' events (``read``,
  ``poll_foreign_events``);
* ``doorbell``: ringing the other processes after a commit that recorded events (the
  writer does), and being rung (the store's notifier listens).

Threads: one writer thread owning the only write connection, a few preparer threads for
the append pipeline, a reader thread (``reader.READERS``) with its own connection (WAL
lets it read while the writer writes), a thread reading other processes' events, and a
pool for other blocking file work (``io``).
"""

from __future__ import annotations

import os
import sqlite3
import uuid

from twisted.internet.defer import Deferred
from twisted.python.threadpool import ThreadPool

from smsync.store.sql.database import SQLDatabase
from smsync.store.sqlite.connection import connect
from smsync.store.sqlite.doorbell import Doorbell, directory_for
from smsync.store.sqlite.reader import Readers
from smsync.store.sqlite.schema import migrate
from smsync.store.sqlite.writer import Writer, _Job

DB_NAME = "smsync.sqlite3"


class Database(SQLDatabase, Writer, Readers):
    """The opened database; see the module docstrings for the threading model.

    Build it with ``Database.open`` (blocking: call it from a thread), then ``start()``
    on the reactor thread.
    """

    def __init__(self, directory: str, reactor):
        self.directory = directory
        self.path = os.path.join(directory, DB_NAME)
        self.origin = uuid.uuid4().hex
        self._reactor = self.reactor = reactor
        self._closed = False
        #: Rung by the writer after each commit with events; the notifier listens on it.
        self.doorbell = Doorbell(directory_for(self.path))
        self._init_writer()
        self._init_readers()
        # Few I/O threads: they mostly parse (holding the GIL) and write page cache.
        self.iopool = ThreadPool(minthreads=1, maxthreads=4, name="smsync-sqlite-io")

    @classmethod
    def open(cls, directory: str, reactor, bodies) -> "Database":
        """Open (creating and migrating as needed) the database in ``directory`` whose
        message bodies ``bodies`` (a ``BodyFiles``) keeps. Blocking."""
        db = cls(directory, reactor)
        db.bodies = bodies
        db._writer_conn = connect(db.path, "FULL")
        migrate(db._writer_conn)
        return db

    job_class = _Job

    def _pools(self) -> tuple:
        return (self.readpool, self.feedpool, self.iopool)

    def start(self) -> None:
        """Start the writer thread and the pools. Call on the reactor thread."""
        self._start_pools()
        self._start_writer()

    # -- shutdown -------------------------------------------------------------------

    def close(self) -> Deferred:
        """Finish every queued write, then stop the threads and close the connections."""
        if self._closed:
            return self._closing
        self._closed = True
        stopped = self._stop_writer()
        done = self._closing = Deferred()

        def finish(_):
            self._forget_shutdown_trigger()
            self._stop_pools()
            self.doorbell.close()
            for conn in [self._writer_conn, *self._reader_connections()]:
                if conn is not None:
                    try:
                        conn.close()
                    except sqlite3.Error:
                        pass
            done.callback(None)

        stopped.addCallback(finish)
        # A second caller gets its own Deferred firing at the same time.
        return done
