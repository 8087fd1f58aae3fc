"""Accounts of a memory store: ``IAccountStore`` and the per-account state it creates.

``AccountData`` is the root of everything one account owns (folders, collections,
devices); removing the account drops it, and with it all of that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import AlreadyExists, InvalidData
from smsync.interfaces import IAccountListing, IAccountStore, IAccountUsage
from smsync.model import (
    DEFAULT_COLLECTIONS,
    DEFAULT_COMPONENTS,
    DEFAULT_MAILBOXES,
    PROP_DISPLAYNAME,
    ChangeEvent,
    ChangeKind,
)
from smsync.store.common import account_page_args, new_id, normalize_account
from smsync.store.memory.folder import FolderState
from smsync.store.memory.items import CollectionState
from smsync.store.memory.sharing import forget_account

if TYPE_CHECKING:
    from smsync.store.memory.backend import MemoryStore


class AccountData:
    """Everything one account owns. Folders and collections are indexed by name and by
    id; both maps always hold the same objects."""

    def __init__(self, name: str, password_hash: str):
        self.name = name
        self.password_hash = password_hash
        self.folders: dict[str, FolderState] = {}
        self.folders_by_id: dict[str, FolderState] = {}
        self.collections: dict[str, CollectionState] = {}
        self.collections_by_id: dict[str, CollectionState] = {}
        # device_id -> smsync.store.memory.devices.DeviceState
        self.devices: dict = {}
        # IAccountSettings: key -> bytes
        self.settings: dict[str, bytes] = {}
        # IFolderSharing, of this account's folders: folder id -> identifier -> rights
        self.acl: dict[str, dict[str, str]] = {}
        # IAnnotations: folder id ("" for the account) -> name -> bytes
        self.annotations: dict[str, dict[str, bytes]] = {}
        # IDavTree: path -> (DavNode, content or None for a collection)
        self.dav_nodes: dict[str, tuple] = {}

    def add_folder(self, folder: FolderState) -> None:
        self.folders[folder.name] = folder
        self.folders_by_id[folder.id] = folder

    def drop_folder(self, folder: FolderState) -> None:
        del self.folders[folder.name]
        del self.folders_by_id[folder.id]

    def folder_with_role(self, role) -> Optional[FolderState]:
        for folder in self.folders.values():
            if folder.role == role:
                return folder
        return None

    def add_collection(self, coll: CollectionState) -> None:
        self.collections[coll.name] = coll
        self.collections_by_id[coll.id] = coll

    def drop_collection(self, coll: CollectionState) -> None:
        del self.collections[coll.name]
        del self.collections_by_id[coll.id]


@implementer(IAccountStore, IAccountListing, IAccountUsage)
class MemoryAccountStore:
    """``IAccountStore`` over the store's dict of ``AccountData``."""

    def __init__(self, store: "MemoryStore"):
        self._store = store

    @deferred
    async def add(self, account: str, password_hash: str) -> None:
        accounts = self._store._live_accounts()
        name = normalize_account(account)
        if name in accounts:
            raise AlreadyExists(f"account {name} already exists")
        _check_hash(password_hash)
        data = AccountData(name, password_hash)
        for folder_name, role in DEFAULT_MAILBOXES.items():
            data.add_folder(
                FolderState(new_id(), folder_name, self._store._new_uidvalidity(), role)
            )
        for coll_name, (kind, display) in DEFAULT_COLLECTIONS.items():
            data.add_collection(
                CollectionState(
                    new_id(),
                    coll_name,
                    kind,
                    DEFAULT_COMPONENTS[kind],
                    {PROP_DISPLAYNAME: display},
                )
            )
        accounts[name] = data
        self._store.notifier.notify(ChangeEvent(account=name, kind=ChangeKind.HIERARCHY))

    @deferred
    async def set_password_hash(self, account: str, password_hash: str) -> None:
        data = self._store._account_data(account)
        _check_hash(password_hash)
        data.password_hash = password_hash

    @deferred
    async def password_hash(self, account: str) -> Optional[str]:
        accounts = self._store._live_accounts()
        try:
            name = normalize_account(account)
        except InvalidData:
            return None
        data = accounts.get(name)
        return None if data is None else data.password_hash

    @deferred
    async def remove(self, account: str) -> None:
        data = self._store._account_data(account)
        del self._store._live_accounts()[data.name]
        forget_account(self._store, data)
        # Subscribers (IMAP IDLE, EAS Ping) must learn their view is gone.
        self._store.notifier.notify(ChangeEvent(account=data.name, kind=ChangeKind.RESYNC))

    @deferred
    async def list(self) -> list[str]:
        return sorted(self._store._live_accounts())

    @deferred
    async def page(self, search=None, after=None, limit=100, prefix=False) -> list[str]:
        search, after, limit = account_page_args(search, after, limit)
        out = []
        for name in sorted(self._store._live_accounts()):
            if after is not None and name <= after:
                continue
            if (name.startswith(search) if prefix else search in name):
                out.append(name)
                if len(out) == limit:
                    break
        return out

    @deferred
    async def count(self) -> int:
        return len(self._store._live_accounts())

    @deferred
    async def usage(self, account: str) -> int:
        data = self._store._account_data(account)
        return sum(folder.info().size for folder in data.folders.values())


def _check_hash(password_hash) -> None:
    if not isinstance(password_hash, str):
        raise InvalidData("a password hash is a string")
