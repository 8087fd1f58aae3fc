"""``IStore`` for ``sqlite:``: opening a store directory and the store object itself."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from smsync.errors import BadStoreURI
from smsync.store.sql.store import SQLStore
from smsync.store.sqlite.accounts import SQLiteAccountStore
from smsync.store.sqlite.bodies import BodyFiles
from smsync.store.sqlite.collections import SQLiteCollectionStore
from smsync.store.sqlite.db import DB_NAME, Database
from smsync.store.sqlite.devices import SQLiteDeviceRegistry
from smsync.store.sqlite.listing import Listings, TransactionListings
from smsync.store.sqlite.mail import SQLiteMailStore
from smsync.store.sqlite import watch

LOCK_NAME = "lock"
BODIES_NAME = "bodies"


def _open_blocking(directory: str, create: bool, reactor):
    """Open the directory's database and lock, cleaning orphans when alone. Blocking.

    Returns ``(database, lock file descriptor, orphans removed)``.
    """
    try:
        if not os.path.isdir(directory):
            if not create:
                raise BadStoreURI(f"no store at {directory}")
            os.makedirs(directory, exist_ok=True)
        if not create and not os.path.exists(os.path.join(directory, DB_NAME)):
            raise BadStoreURI(f"no store at {directory} (missing {DB_NAME})")
        lock_fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise BadStoreURI(f"cannot open store directory {directory}: {e.strerror}") from None
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except BlockingIOError:
            fcntl.flock(lock_fd, fcntl.LOCK_SH)
            alone = False
        bodies = BodyFiles(os.path.join(directory, BODIES_NAME))
        try:
            db = Database.open(directory, reactor, bodies)
        except sqlite3.DatabaseError as e:
            raise BadStoreURI(f"cannot open store database in {directory}: {e}") from None
        os.makedirs(bodies.root, exist_ok=True)
        removed = 0
        if alone:
            removed = _clean_orphans(db, bodies)
            fcntl.flock(lock_fd, fcntl.LOCK_SH)
        return db, bodies, lock_fd, removed
    except BaseException:
        os.close(lock_fd)
        raise


def _clean_orphans(db: Database, bodies: BodyFiles) -> int:
    """Remove body files no row names, in buckets written since the last clean-up."""
    conn = db._writer_conn
    row = conn.execute("SELECT value FROM meta WHERE key = 'clean_mark'").fetchone()
    since = row[0] if row else ""

    def known_in(bucket):
        return {
            r[0]
            for r in conn.execute(
                "SELECT path FROM bodies WHERE path >= ? AND path < ?", (bucket + "/", bucket + "0")
            )
        }

    removed = bodies.clean_orphans(known_in, since)
    # Buckets older than an hour before now are final: later runs need not scan them.
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('clean_mark', ?)",
        (bodies.bucket_of(time.time() - 3600),),
    )
    return removed


def open_store(uri: str, directory: str, create: bool) -> Deferred:
    """Open the store in ``directory``; fires with a started ``SQLiteStore``."""
    from twisted.internet import reactor

    d = deferToThread(_open_blocking, directory, create, reactor)

    def started(opened):
        db, bodies, lock_fd, removed = opened
        db.start()
        return SQLiteStore(uri, db, bodies, lock_fd, reactor, orphans_removed=removed)

    return d.addCallback(started)


class SQLiteStore(SQLStore):
    """An opened ``sqlite:`` store. ``orphans_removed`` says how many orphaned body files
    opening it cleaned up (0 unless a crash left some)."""

    account_store_class = SQLiteAccountStore
    device_registry_class = SQLiteDeviceRegistry
    mail_store_class = SQLiteMailStore
    collection_store_class = SQLiteCollectionStore

    def __init__(self, uri, db: Database, bodies: BodyFiles, lock_fd, reactor, orphans_removed=0):
        self.bodies = bodies
        self.orphans_removed = orphans_removed
        self._lock_fd = lock_fd
        #: This process's cache of big folders' listings (IMailbox.messages).
        self.listings = Listings()
        doorbell = db.doorbell if watch.DOORBELL else None
        super().__init__(uri, db, watch.SQLiteNotifier(db, reactor, doorbell=doorbell))

    def __repr__(self):
        return f"<SQLiteStore {self.uri}>"

    def transaction_view(self, view) -> None:
        # Listings are cached by folder revision: a listing read inside a transaction
        # that then rolls back would be of a revision that never happened, so the
        # transaction keeps its own (reading the process's where they are current).
        view.listings = TransactionListings(self.listings)

    def _closed(self):
        os.close(self._lock_fd)
