"""``IStore`` for ``postgresql:``: opening a database and the store object itself."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from smsync.store.postgresql.accounts import PGAccountStore
from smsync.store.postgresql.collections import PGCollectionStore
from smsync.store.postgresql.db import Database
from smsync.store.postgresql.devices import PGDeviceRegistry
from smsync.store.postgresql.listen import PGNotifier, listen_connection
from smsync.store.postgresql.mail import PGMailStore
from smsync.store.sql.store import SQLStore


def _open_blocking(target, create: bool, reactor):
    db = Database.open(target, reactor, create)
    try:
        feed = listen_connection(target, db.channel)
    except BaseException:
        db._writer_conn.close()
        raise
    return db, feed


def open_store(uri: str, target, create: bool) -> Deferred:
    """Open the store ``target`` names; fires with a started ``PGStore``.

    The change feed is listening before the store is handed out, so no change committed
    after ``open`` fires goes unheard."""
    from twisted.internet import reactor

    d = deferToThread(_open_blocking, target, create, reactor)

    def started(opened):
        db, feed = opened
        db.start()
        store = PGStore(uri, db, reactor)
        store.notifier.start(feed)
        return store

    return d.addCallback(started)


class PGStore(SQLStore):
    """An opened ``postgresql:`` store."""

    account_store_class = PGAccountStore
    device_registry_class = PGDeviceRegistry
    mail_store_class = PGMailStore
    collection_store_class = PGCollectionStore

    def __init__(self, uri, db: Database, reactor):
        super().__init__(uri, db, PGNotifier(db.target, db.channel, db.origin, reactor))

    def __repr__(self):
        return f"<PGStore {self.db.target.dbname}/{self.db.target.schema}>"
