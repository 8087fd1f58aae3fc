"""``IFolderSharing`` and ``IAnnotations`` in memory.

A folder's access control list lives with its owner's ``AccountData`` (``acl``: folder
id -> identifier -> rights), an account's annotations with that account's
(``annotations``: folder id, ``""`` for the account as a whole -> name -> bytes), so
removing the account removes them. What the account removal and a folder's deletion
must take from *other* accounts -- entries naming the account, annotations on the
folder -- ``forget_account`` and ``forget_folder`` take.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import NotFound
from smsync.interfaces import IAnnotations, IFolderSharing
from smsync.model import FolderGrant
from smsync.store.common import annotation_changes, sharing_entry

if TYPE_CHECKING:
    from smsync.store.memory.accounts import AccountData
    from smsync.store.memory.backend import MemoryStore


@implementer(IFolderSharing)
class MemoryFolderSharing:
    """The folders' access control lists of a memory store."""

    def __init__(self, store: "MemoryStore"):
        self._store = store

    @deferred
    async def get(self, owner, folder_id):
        try:
            data = self._store._account_data(owner)
        except NotFound:
            return {}
        if folder_id not in data.folders_by_id:
            return {}
        return dict(data.acl.get(folder_id, {}))

    @deferred
    async def set(self, owner, folder_id, identifier, rights):
        identifier, rights = sharing_entry(identifier, rights)
        data = self._store._account_data(owner)
        if folder_id not in data.folders_by_id:
            raise NotFound(f"{data.name} has no folder with id {folder_id!r}")
        if rights is not None:
            data.acl.setdefault(folder_id, {})[identifier] = rights
            return
        entries = data.acl.get(folder_id, {})
        entries.pop(identifier, None)
        if not entries:
            data.acl.pop(folder_id, None)

    @deferred
    async def granted(self, identifier):
        out = []
        for name, data in sorted(self._store._live_accounts().items()):
            for folder_id in sorted(data.acl):
                rights = data.acl[folder_id].get(identifier)
                if rights is not None and folder_id in data.folders_by_id:
                    out.append(FolderGrant(name, folder_id, identifier, rights))
        return out


@implementer(IAnnotations)
class MemoryAnnotations:
    """The annotations of a memory store."""

    def __init__(self, store: "MemoryStore"):
        self._store = store

    @deferred
    async def get(self, account, folder_id):
        try:
            data = self._store._account_data(account)
        except NotFound:
            return {}
        return dict(data.annotations.get(folder_id, {}))

    @deferred
    async def set(self, account, folder_id, changes):
        changes = annotation_changes(folder_id, changes)
        data = self._store._account_data(account)
        entries = data.annotations.setdefault(folder_id, {})
        for name, value in changes.items():
            if value is None:
                entries.pop(name, None)
            else:
                entries[name] = value
        if not entries:
            del data.annotations[folder_id]


def forget_folder(store: "MemoryStore", folder_id: str) -> None:
    """A folder was deleted: drop its access control list and every account's
    annotations on it."""
    for data in store._live_accounts().values():
        data.acl.pop(folder_id, None)
        data.annotations.pop(folder_id, None)


def forget_account(store: "MemoryStore", gone: "AccountData") -> None:
    """Account ``gone`` was removed: drop every entry naming it from the others' lists,
    and the others' annotations on its folders."""
    folders = gone.folders_by_id
    for data in store._live_accounts().values():
        for folder_id in list(data.acl):
            entries = data.acl[folder_id]
            entries.pop(gone.name, None)
            entries.pop("-" + gone.name, None)
            if not entries:
                del data.acl[folder_id]
        for folder_id in [f for f in data.annotations if f in folders]:
            del data.annotations[folder_id]
