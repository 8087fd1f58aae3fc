"""``smsync.admin`` over a store without the optional listing abilities
(``IAccountListing``, ``IDeviceListing``, ``IAccountUsage``, as a third-party backend may
be): the same pages, counts and cursors, served from the plain lists."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest_twisted

from smsync.admin import accounts, alldevices
from smsync.interfaces import IAccountListing, IDeviceListing
from smsync.store.registry import open_store
from smsync.testing.base import HASH_1, sleep


class Plain:
    """Only the required methods of a part (what a minimal backend has)."""

    def __init__(self, part, *names):
        for name in names:
            setattr(self, name, getattr(part, name))


class PlainStore:
    def __init__(self, store):
        self.uri = store.uri
        self.accounts = Plain(store.accounts, "list", "password_hash", "remove", "add")
        self.devices = Plain(store.devices, "list", "get", "remove")


@pytest_twisted.ensureDeferred
async def test_pages_and_counts_without_the_abilities():
    store = await open_store("memory:")
    try:
        for n in range(7):
            await store.accounts.add(f"u{n}@{'a' if n % 2 else 'b'}.example", HASH_1)
        await store.devices.seen("u1@a.example", "old", "imap")
        await sleep(0.02)
        await store.devices.seen("u2@b.example", "new", "eas")
        await store.devices.seen("u3@a.example", "never", "eas", success=False)
        plain = PlainStore(store)
        assert not IAccountListing.providedBy(plain.accounts)
        assert not IDeviceListing.providedBy(plain.devices)
        for search, prefix in (("", False), ("a.example", False), ("u1", True), ("zz", False)):
            for limit in (1, 2, 50):
                walked = {}
                for which in (store, plain):
                    names, after = [], None
                    while True:
                        page, after = await accounts.page(which, search, after, limit, prefix)
                        names += page
                        if after is None:
                            break
                    walked[which is plain] = names
                assert walked[True] == walked[False], (search, prefix, limit)
        assert await accounts.count(plain) == await accounts.count(store) == 7
        assert await accounts.usage(plain, "u1@a.example") is None
        assert await alldevices.count(plain) == await alldevices.count(store) == 3
        later = datetime.now(timezone.utc) + timedelta(days=2)
        for protocol, days in ((None, None), ("eas", None), (None, 1)):
            for which in (store, plain):
                seen, after = [], None
                while True:
                    views, after = await alldevices.page(which, protocol, days, after, 1, now=later)
                    seen += [v.device.device_id for v in views]
                    if after is None:
                        break
                if which is store:
                    expected = seen
                else:
                    assert seen == expected, (protocol, days)
        views, _ = await alldevices.page(plain)
        assert [v.device.device_id for v in views] == ["never", "old", "new"]
    finally:
        await store.close()
