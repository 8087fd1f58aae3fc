"""A minimal backend built on ``smsync.store.base`` passes the conformance it claims.

The backend below implements only what the base classes leave to it -- by handing each
of those calls to a ``memory:`` store -- and inherits the rest (``mailbox_by_id``,
``mailbox_by_role``, ``structures``, ``collection_by_id``, ``get_by_uid``,
``save_state``). It declares no optional fast path, so the conformance suite skips
those tests and the protocols take their fallbacks with it.
"""

from __future__ import annotations

import pytest
from zope.interface import implementer

from smsync._async import deferred
from smsync.interfaces import (
    ICollection,
    ICollectionStore,
    IDeviceRegistry,
    IMailbox,
    IMailboxRangeReads,
    IMailboxSelect,
    IMailStore,
    IStore,
)
from smsync.store.base import (
    CollectionBase,
    CollectionStoreBase,
    DeviceRegistryBase,
    MailboxBase,
    MailStoreBase,
)
from smsync.store.registry import open_store
from smsync.testing import (
    AccountConformance,
    CollectionConformance,
    DeviceConformance,
    FolderConformance,
    MailChangesConformance,
    MailConformance,
    NotifyConformance,
    TimeRangeConformance,
)


def passing(*names):
    """Class decorator: methods ``names`` hand their call to ``self._inner``."""

    def make(name):
        def method(self, *args, **kwargs):
            return getattr(self._inner, name)(*args, **kwargs)

        method.__name__ = name
        return method

    def decorate(cls):
        for name in names:
            setattr(cls, name, make(name))
        return cls

    return decorate


class _Thin:
    def __init__(self, inner):
        self._inner = inner
        self.account = getattr(inner, "account", None)
        self.id = getattr(inner, "id", None)


@implementer(IMailbox)
@passing(
    "info", "uids", "messages", "read_body", "append", "copy", "move", "store_flags",
    "expunge", "remove", "changes_since",
)
class ThinMailbox(_Thin, MailboxBase):
    """Only what ``MailboxBase`` leaves to a backend."""


@implementer(IMailStore)
@passing(
    "list_mailboxes", "create_mailbox", "rename_mailbox", "delete_mailbox", "subscribe",
    "set_role",
)
class ThinMailStore(_Thin, MailStoreBase):

    @deferred
    async def mailbox(self, name):
        return ThinMailbox(await self._inner.mailbox(name))


@implementer(ICollection)
@passing(
    "info", "set_properties", "items", "get", "put", "delete", "changes_since", "time_range",
)
class ThinCollection(_Thin, CollectionBase):
    """Only what ``CollectionBase`` leaves to a backend."""


@implementer(ICollectionStore)
@passing(
    "list_collections", "create_collection", "rename_collection", "delete_collection",
)
class ThinCollectionStore(_Thin, CollectionStoreBase):

    @deferred
    async def collection(self, name):
        return ThinCollection(await self._inner.collection(name))


@implementer(IDeviceRegistry)
@passing(
    "seen", "get", "list", "rename", "set_conflict_policy", "remove", "log", "get_log",
    "load_state", "save_states",
)
class ThinDevices(_Thin, DeviceRegistryBase):
    """Only what ``DeviceRegistryBase`` leaves to a backend."""


@implementer(IStore)
class ThinStore:
    def __init__(self, inner):
        self._inner = inner
        self.uri = inner.uri
        self.accounts = inner.accounts
        self.notifier = inner.notifier
        self.devices = ThinDevices(inner.devices)

    @deferred
    async def mail(self, account):
        return ThinMailStore(await self._inner.mail(account))

    @deferred
    async def collections(self, account):
        return ThinCollectionStore(await self._inner.collections(account))

    def close(self):
        return self._inner.close()


class TestMinimalBackend(
    AccountConformance,
    FolderConformance,
    MailConformance,
    MailChangesConformance,
    CollectionConformance,
    TimeRangeConformance,
    DeviceConformance,
    NotifyConformance,
):
    @pytest.fixture
    def store_uri(self):
        return "memory:"

    def open_store(self, uri, create=True):
        return open_store(uri, create=create).addCallback(ThinStore)


@pytest.mark.parametrize(
    "cls, inherited",
    [
        (ThinMailStore, ["mailbox_by_id", "mailbox_by_role"]),
        (ThinMailbox, ["structures"]),
        (ThinCollectionStore, ["collection_by_id"]),
        (ThinCollection, ["get_by_uid"]),
        (ThinDevices, ["save_state"]),
    ],
)
def test_the_defaults_under_test_are_the_base_classes(cls, inherited):
    # Else the conformance run above would be testing the memory store's methods.
    for name in inherited:
        assert name not in vars(cls), name
        assert getattr(cls, name).__qualname__.split(".")[0].endswith("Base"), name


def test_the_minimal_mailbox_claims_no_fast_path():
    assert not IMailboxRangeReads.implementedBy(ThinMailbox)
    assert not IMailboxSelect.implementedBy(ThinMailbox)
