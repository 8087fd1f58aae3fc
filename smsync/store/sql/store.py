"""``IStore`` over SQL: the opened store object both SQL backends share."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThread
from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IStore, IStoreTransactions
from smsync.store.common import normalize_account
from smsync.store.sql.davtree import SQLDavTree
from smsync.store.sql.policy import SQLProtocolPolicy
from smsync.store.sql.settings import SQLAccountSettings
from smsync.store.sql.sharing import SQLAnnotations, SQLFolderSharing


@implementer(IStore, IStoreTransactions)
class SQLStore:
    """An opened SQL store, for a backend that names its four store classes.

    A backend's ``__init__`` sets what its own parts need (the account store may look
    them up on the store) and then calls this one.
    """

    account_store_class: type
    device_registry_class: type
    mail_store_class: type
    collection_store_class: type

    def __init__(self, uri, db, notifier):
        self.uri = uri
        self.db = db
        self.notifier = notifier
        db.on_events = notifier.notify
        self.accounts = self.account_store_class(self)
        self.devices = self.device_registry_class(self)
        self.policy = SQLProtocolPolicy(self, self.account_store_class.dialect)
        self.settings = SQLAccountSettings(self, self.account_store_class.dialect)
        self.sharing = SQLFolderSharing(self, self.account_store_class.dialect)
        self.annotations = SQLAnnotations(self, self.account_store_class.dialect)
        self.dav_tree = SQLDavTree(self, self.account_store_class.dialect)
        self._closing: Deferred | None = None

    async def _account(self, account):
        try:
            name = normalize_account(account)
        except InvalidData:
            raise NotFound(f"no account {account!r}") from None
        aid = await self.db.read(self.accounts.account_id, name)
        if aid is None:
            raise NotFound(f"no account {name}")
        return name, aid

    @deferred
    async def mail(self, account):
        return self.mail_store_class(self, *await self._account(account))

    @deferred
    async def collections(self, account):
        return self.collection_store_class(self, *await self._account(account))

    def transaction(self):
        """See ``IStoreTransactions.transaction``: a session on the backend's database
        (``db.begin_session``) seen through a ``TransactionView``."""
        from smsync.store.sql.transaction import TransactionView

        if self._closing is not None:
            raise RuntimeError("store is closed")
        view = TransactionView(self, self.db.begin_session())
        self.transaction_view(view)
        return succeed(view)

    def transaction_view(self, view) -> None:
        """Give ``view`` (a new transaction's) fresh copies of whatever per-store cache
        its handles use, so uncommitted data never reaches the store's own."""

    def _closed(self) -> None:
        """Release what the backend holds beyond its database, once it is closed."""

    @deferred
    async def close(self):
        if self._closing is None:
            self._closing = Deferred()
            self.notifier.close()
            # Drain the append pipeline stage by stage: appends still being parsed on the
            # I/O pool reach the writer's queue first, then the writer commits them.
            await deferToThread(self.db.iopool.stop)
            await self.db.close()
            self._closed()
            self._closing.callback(None)
        else:
            done = Deferred()
            self._closing.addBoth(lambda r: (done.callback(None), r)[1])
            await done
