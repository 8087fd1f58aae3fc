"""The store conformance suite: the contract of ``smsync.interfaces`` as tests that every
store backend -- ours (``memory:``, ``sqlite:``, ``postgresql:``) and third parties' --
runs unchanged.

Usage: subclass ``StoreConformance`` in a pytest module and say how to name a fresh,
empty store::

    import pytest
    from smsync.testing import StoreConformance

    class TestMyBackend(StoreConformance):
        # Set when closing the store and opening the URI again keeps the data; the
        # persistence tests are skipped otherwise.
        reopen_supported = True

        @pytest.fixture
        def store_uri(self, tmp_path):
            return f"mybackend://{tmp_path}"

The backend must be installed as an ``IStoreBackend`` plugin (``smsync/plugins/``) so
``smsync.store.registry.open_store`` finds it by scheme. Every test gets a store opened
from ``store_uri`` holding two accounts (``StoreHarness.ACCOUNT`` and ``OTHER_ACCOUNT``,
with the default folders and collections), closed again after the test. Run with
pytest and pytest-twisted (installed with smsync's ``test`` extra)::

    pytest -q tests/test_my_backend.py

Pick parts with the mixins (``AccountConformance``, ``FolderConformance``,
``MailConformance``, ``MailChangesConformance``, ``CollectionConformance``,
``TimeRangeConformance``, ``DeviceConformance``, ``NotifyConformance``,
``PersistenceConformance``, ``TransactionConformance``, ``StatefulConformance``,
``AccountSettingsConformance``, ``FolderSharingConformance``,
``AnnotationsConformance``, ``DavTreeConformance``, ``AdminListingConformance``) instead of the whole
``StoreConformance``, or deselect with ``-k``. A slow backend may override
``stateful_settings`` (a ``hypothesis.settings``) to run fewer examples.

Every interface method is called through ``smsync.testing.base.call``, which fails the
test when a method does not return a Deferred, so "always a Deferred" is checked
everywhere, failures included.

To test a protocol (or a backend under the real protocols) end to end,
``smsync.testing.servers.RunningServers`` starts any protocols over any store URI on
ephemeral ports of 127.0.0.1, with or without TLS, through smsync's own start-up path;
``smsync.testing.lineclient.LineClient`` talks raw CRLF lines to them.
"""

from smsync.testing.base import StoreHarness, call
from smsync.testing.conformance_accounts import AccountConformance
from smsync.testing.conformance_admin import AdminListingConformance
from smsync.testing.conformance_collections import CollectionConformance
from smsync.testing.conformance_davtree import DavTreeConformance
from smsync.testing.conformance_devices import DeviceConformance
from smsync.testing.conformance_folders import FolderConformance
from smsync.testing.conformance_mail import MailConformance
from smsync.testing.conformance_mail_changes import MailChangesConformance
from smsync.testing.conformance_notify import NotifyConformance
from smsync.testing.conformance_persistence import PersistenceConformance
from smsync.testing.conformance_settings import AccountSettingsConformance
from smsync.testing.conformance_sharing import AnnotationsConformance, FolderSharingConformance
from smsync.testing.conformance_timerange import TimeRangeConformance
from smsync.testing.conformance_transactions import TransactionConformance
from smsync.testing.stateful import CollectionMachine, MailboxMachine, StatefulConformance


class StoreConformance(
    AccountConformance,
    FolderConformance,
    MailConformance,
    MailChangesConformance,
    CollectionConformance,
    TimeRangeConformance,
    DeviceConformance,
    NotifyConformance,
    PersistenceConformance,
    TransactionConformance,
    StatefulConformance,
    AccountSettingsConformance,
    FolderSharingConformance,
    AnnotationsConformance,
    DavTreeConformance,
    AdminListingConformance,
):
    """The whole suite. Subclass it, define a ``store_uri`` fixture, and set
    ``reopen_supported = True`` for a persistent backend."""


__all__ = [
    "AccountConformance", "AccountSettingsConformance", "AdminListingConformance", "AnnotationsConformance",
    "CollectionConformance", "CollectionMachine", "DavTreeConformance", "DeviceConformance", "FolderSharingConformance",
    "FolderConformance", "MailChangesConformance", "MailConformance", "MailboxMachine",
    "NotifyConformance", "PersistenceConformance", "StatefulConformance", "StoreConformance",
    "StoreHarness", "TimeRangeConformance", "TransactionConformance", "call",
]
