"""The ``memory:`` store backend: ``IStoreBackend`` and ``IStore``.

URIs:

* ``memory:`` -- a fresh, empty store every time it is opened.
* ``memory:NAME`` (also ``memory://NAME``) -- a store shared by name within this process:
  while one is open, opening the same name again returns the *same* store object, so a
  server and a test (or two protocols) can share one store. Each ``open`` counts as one
  user; each ``close`` gives one back, and when the last user closes it the store is
  closed and the name forgotten -- the next ``open`` of that name starts empty.
  ``create=False`` fails with ``BadStoreURI`` when no store of that name is open.

Nothing is persistent: everything lives in dicts and is gone with the process. There are
no threads; every operation completes before its Deferred is returned, which also makes
each one atomic.
"""

from __future__ import annotations

import re
import time

from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import BadStoreURI, InvalidData, NotFound, SmsyncError
from smsync.interfaces import IStore, IStoreBackend
from smsync.notify import LocalNotifier
from smsync.store.common import normalize_account
from smsync.store.memory.accounts import AccountData, MemoryAccountStore
from smsync.store.memory.collections import MemoryCollectionStore
from smsync.store.memory.davtree import MemoryDavTree
from smsync.store.memory.devices import MemoryDeviceRegistry
from smsync.store.memory.policy import MemoryProtocolPolicy
from smsync.store.memory.settings import MemoryAccountSettings
from smsync.store.memory.sharing import MemoryAnnotations, MemoryFolderSharing
from smsync.store.memory.mail import MemoryMailStore

SCHEME = "memory"
_NAME_RE = re.compile(r"^[A-Za-z0-9._~-]{1,200}$")


class StoreClosed(SmsyncError):
    """The memory store was closed; it cannot be used any more."""


@implementer(IStore)
class MemoryStore:
    """A whole store in dicts: accounts (each owning folders, collections and devices)
    and the notifier every change is announced on."""

    def __init__(self, uri: str, name: str | None = None):
        self.uri = uri
        self.name = name
        self.notifier = LocalNotifier()
        # A memory store lives in one process: every change is this process's.
        self.notifier.sees_every_process = True
        self.accounts = MemoryAccountStore(self)
        self.devices = MemoryDeviceRegistry(self)
        self.policy = MemoryProtocolPolicy()
        self.settings = MemoryAccountSettings(self)
        self.sharing = MemoryFolderSharing(self)
        self.annotations = MemoryAnnotations(self)
        self.dav_tree = MemoryDavTree(self)
        self._accounts: dict[str, AccountData] = {}
        self._closed = False
        self._users = 1
        self._last_uidvalidity = 0

    def __repr__(self) -> str:
        return f"<MemoryStore {self.uri!r}{' closed' if self._closed else ''}>"

    # -- what the handles use -----------------------------------------------------------

    def _live_accounts(self) -> dict[str, AccountData]:
        if self._closed:
            raise StoreClosed(f"store {self.uri} is closed")
        return self._accounts

    def _account_data(self, account: str) -> AccountData:
        """The state of ``account``; ``NotFound`` if there is no such account."""
        accounts = self._live_accounts()
        try:
            name = normalize_account(account)
        except InvalidData:
            raise NotFound(f"no account {account!r}") from None
        data = accounts.get(name)
        if data is None:
            raise NotFound(f"no account {name}")
        return data

    def _new_uidvalidity(self) -> int:
        """A UIDVALIDITY never handed out before by this store.

        Seeded from the clock so that stores opened one after another in a process (a
        client may see both under one name) do not repeat values; kept within the
        32-bit range IMAP allows.
        """
        value = max(int(time.time()) & 0x7FFFFFFF, self._last_uidvalidity + 1)
        self._last_uidvalidity = value
        return value

    # -- IStore -------------------------------------------------------------------------

    @deferred
    async def mail(self, account: str) -> MemoryMailStore:
        return MemoryMailStore(self, self._account_data(account).name)

    @deferred
    async def collections(self, account: str) -> MemoryCollectionStore:
        return MemoryCollectionStore(self, self._account_data(account).name)

    @deferred
    async def close(self) -> None:
        if self._closed:
            return
        self._users -= 1
        if self._users > 0:
            return
        self._closed = True
        self._accounts = {}
        if self.name is not None and _named.get(self.name) is self:
            del _named[self.name]


#: Open named stores of this process: ``memory:NAME`` -> store.
_named: dict[str, MemoryStore] = {}


def parse_uri(uri: str) -> str | None:
    """The store name in a ``memory:`` URI (None for a fresh anonymous store).

    Raises:
        BadStoreURI: not a ``memory:`` URI, or a name with characters outside
            ``A-Z a-z 0-9 . _ ~ -``.
    """
    if not isinstance(uri, str):
        raise BadStoreURI(f"a store URI is a string, not {uri!r}")
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme.lower() != SCHEME:
        raise BadStoreURI(f"not a memory: URI: {uri!r}")
    if rest.startswith("//"):
        rest = rest[2:]
    rest = rest.rstrip("/")
    if not rest:
        return None
    if not _NAME_RE.match(rest):
        raise BadStoreURI(f"memory store names use A-Z a-z 0-9 . _ ~ -, not {rest!r}")
    return rest


@implementer(IStoreBackend)
class MemoryBackend:
    """Opens ``memory:`` stores (see the module docstring for the URI forms)."""

    scheme = SCHEME
    description = "In-process memory store for tests; memory:NAME is shared by name while open"

    def open(self, uri: str, create: bool = True):
        try:
            name = parse_uri(uri)
        except BadStoreURI as e:
            return fail(e)
        if name is None:
            return succeed(MemoryStore(uri))
        store = _named.get(name)
        if store is not None:
            store._users += 1
            return succeed(store)
        if not create:
            return fail(BadStoreURI(f"no memory store named {name!r} is open"))
        store = _named[name] = MemoryStore(uri, name)
        return succeed(store)
