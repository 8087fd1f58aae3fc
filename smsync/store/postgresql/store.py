"""``IStore`` for ``postgresql:``: opening a database and the store object itself."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IStore
from smsync.store.common import normalize_account
from smsync.store.postgresql.accounts import PGAccountStore, account_id
from smsync.store.postgresql.collections import PGCollectionStore
from smsync.store.postgresql.db import Database
from smsync.store.postgresql.devices import PGDeviceRegistry
from smsync.store.postgresql.listen import PGNotifier, listen_connection
from smsync.store.postgresql.mail import PGMailStore


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


@implementer(IStore)
class PGStore:
    """An opened ``postgresql:`` store."""

    def __init__(self, uri, db: Database, reactor):
        self.uri = uri
        self.db = db
        self.notifier = PGNotifier(db.target, db.channel, db.origin, reactor)
        db.on_events = self.notifier.notify
        self.accounts = PGAccountStore(self)
        self.devices = PGDeviceRegistry(self)
        self._closing: Deferred | None = None

    def __repr__(self):
        return f"<PGStore {self.db.target.dbname}/{self.db.target.schema}>"

    async def _account(self, account):
        try:
            name = normalize_account(account)
        except InvalidData:
            raise NotFound(f"no account {account!r}") from None
        aid = await self.db.read(account_id, name)
        if aid is None:
            raise NotFound(f"no account {name}")
        return name, aid

    @deferred
    async def mail(self, account):
        return PGMailStore(self, *await self._account(account))

    @deferred
    async def collections(self, account):
        return PGCollectionStore(self, *await self._account(account))

    @deferred
    async def close(self):
        if self._closing is None:
            self._closing = Deferred()
            self.notifier.close()
            # Appends still being parsed on the I/O pool reach the writer's queue first.
            await deferToThread(self.db.iopool.stop)
            await self.db.close()
            self._closing.callback(None)
        else:
            done = Deferred()
            self._closing.addBoth(lambda r: (done.callback(None), r)[1])
            await done
