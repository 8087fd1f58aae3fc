"""Conformance of the optional abilities administration uses over many accounts:
``IAccountListing`` (pages of accounts with a search), ``IAccountUsage`` (an account's
mail size, for quotas) and ``IDeviceListing`` (devices across accounts, the stalest
first). Each answer must be exactly what the plain interface methods would give, cut to
a page; a backend without the ability skips its tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IAccountListing, IAccountUsage, IDeviceListing
from smsync.testing import samples
from smsync.testing.base import HASH_1, StoreHarness, call, sleep


def _ability(obj, interface):
    if not interface.providedBy(obj):
        pytest.skip(f"the store has no {interface.__name__}")
    assert verifyObject(interface, obj)
    return obj


NAMES = ["ann@a.example", "anna@b.example", "bo_b@a.example", "carl@an.example", "dan%x@c.example",
         "zed@a.example"]


class AdminListingConformance(StoreHarness):
    async def _accounts(self, store):
        for name in NAMES:
            await call(store.accounts.add, name, HASH_1)
        return sorted(await call(store.accounts.list))

    @pytest_twisted.ensureDeferred
    async def test_account_pages_match_the_list(self, store):
        listing = _ability(store.accounts, IAccountListing)
        everyone = await self._accounts(store)
        assert await call(listing.count) == len(everyone)
        assert await call(listing.page) == everyone
        # Paging by the last name seen walks everyone once, in order.
        walked, after = [], None
        while True:
            page = await call(listing.page, None, after, 3)
            if not page:
                break
            assert len(page) <= 3
            walked += page
            after = page[-1]
        assert walked == everyone
        for search in ("an", "AN", "a.example", "_", "%", "!", "zzz", "@"):
            wanted = [n for n in everyone if search.lower() in n]
            assert await call(listing.page, search) == wanted, search
            assert await call(listing.page, search, wanted[0] if wanted else None, 2) == wanted[1:3], search
        for prefix in ("an", "a", "bo_", "dan%", "q", ""):
            wanted = [n for n in everyone if n.startswith(prefix)]
            assert await call(listing.page, prefix, None, 100, True) == wanted, prefix
            assert await call(listing.page, prefix, "ann@a.example", 1, True) == \
                [n for n in wanted if n > "ann@a.example"][:1], prefix

    @pytest_twisted.ensureDeferred
    async def test_account_pages_refuse_bad_input(self, store):
        listing = _ability(store.accounts, IAccountListing)
        for args in ((None, None, 0), (None, None, 1001), (None, None, "5"), (5, None, 10),
                     (None, 5, 10)):
            with pytest.raises(InvalidData):
                await call(listing.page, *args)

    @pytest_twisted.ensureDeferred
    async def test_usage_is_the_size_of_the_mail(self, store, mail):
        usage = _ability(store.accounts, IAccountUsage)
        assert await call(usage.usage, self.ACCOUNT) == 0
        inbox = await call(mail.mailbox, "INBOX")
        body = samples.message("quota")
        await call(inbox.append, body)
        sent = await call(mail.mailbox, "Sent")
        await call(sent.append, body + b"more")
        assert await call(usage.usage, self.ACCOUNT.upper()) == 2 * len(body) + 4
        assert await call(usage.usage, self.OTHER_ACCOUNT) == 0
        await call(inbox.remove, None)
        assert await call(usage.usage, self.ACCOUNT) == len(body) + 4
        with pytest.raises(NotFound):
            await call(usage.usage, "nobody@example.com")

    @pytest_twisted.ensureDeferred
    async def test_devices_across_accounts_stalest_first(self, store):
        devices = store.devices
        listing = _ability(devices, IDeviceListing)
        assert await call(listing.count) == 0
        assert await call(listing.across) == ([], None)
        await call(devices.seen, self.ACCOUNT, "never", "eas", None, None, False)
        await call(devices.seen, self.OTHER_ACCOUNT, "old", "imap")
        await sleep(0.02)
        middle = datetime.now(timezone.utc)
        await sleep(0.02)
        await call(devices.seen, self.ACCOUNT, "new", "eas")
        await call(devices.seen, self.OTHER_ACCOUNT, "newer", "dav")
        assert await call(listing.count) == 4
        found, more = await call(listing.across)
        assert more is None
        assert [(d.account, d.device_id) for d in found] == [
            (self.ACCOUNT, "never"), (self.OTHER_ACCOUNT, "old"), (self.ACCOUNT, "new"),
            (self.OTHER_ACCOUNT, "newer")]
        assert found[2] == await call(devices.get, self.ACCOUNT, "new")
        # Pages of one go on from the cursor, whatever is added meanwhile.
        walked, after = [], None
        while True:
            page, after = await call(listing.across, None, None, after, 1)
            walked += page
            if len(walked) == 1:
                await call(devices.seen, self.ACCOUNT, "later", "eas")
            if after is None:
                break
        assert [d.device_id for d in walked] == ["never", "old", "new", "newer", "later"]
        found, _ = await call(listing.across, "eas")
        assert [d.device_id for d in found] == ["never", "new", "later"]
        found, _ = await call(listing.across, None, middle)
        assert [d.device_id for d in found] == ["never", "old"]
        found, _ = await call(listing.across, "imap", middle)
        assert [d.device_id for d in found] == ["old"]
        found, _ = await call(listing.across, None, middle - timedelta(days=1))
        assert [d.device_id for d in found] == ["never"]
        await call(store.accounts.remove, self.OTHER_ACCOUNT)
        found, _ = await call(listing.across)
        assert [d.device_id for d in found] == ["never", "new", "later"]

    @pytest_twisted.ensureDeferred
    async def test_devices_across_refuse_bad_input(self, store):
        listing = _ability(store.devices, IDeviceListing)
        for kwargs in ({"limit": 0}, {"limit": 1001}, {"after": "not a cursor"}, {"after": 5},
                       {"synced_before": datetime(2024, 1, 1)}, {"synced_before": "2024-01-01"}):
            with pytest.raises(InvalidData):
                await call(listing.across, **kwargs)
