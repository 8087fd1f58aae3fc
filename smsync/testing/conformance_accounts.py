"""Conformance of ``IStore`` and ``IAccountStore``: opening, the interfaces provided,
accounts and what an account owns from its first moment."""

from __future__ import annotations

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from smsync import interfaces as I
from smsync.errors import AlreadyExists, BadStoreURI, InvalidData, NotFound
from smsync.model import DEFAULT_COLLECTIONS, DEFAULT_COMPONENTS, DEFAULT_MAILBOXES, PROP_DISPLAYNAME
from smsync.store.registry import open_store
from smsync.testing import samples
from smsync.testing.base import HASH_1, HASH_2, StoreHarness, call


async def _or_not_found(d, default):
    try:
        return await d
    except NotFound:
        return default


class AccountConformance(StoreHarness):
    @pytest_twisted.ensureDeferred
    async def test_store_provides_interfaces(self, store, store_uri):
        assert verifyObject(I.IStore, store)
        assert verifyObject(I.IAccountStore, store.accounts)
        assert verifyObject(I.IDeviceRegistry, store.devices)
        assert verifyObject(I.IChangeNotifier, store.notifier)
        assert store.uri == store_uri
        mail = await call(store.mail, self.ACCOUNT)
        assert verifyObject(I.IMailStore, mail)
        assert mail.account == self.ACCOUNT
        inbox = await call(mail.mailbox, "INBOX")
        assert verifyObject(I.IMailbox, inbox)
        # The optional fast paths a mailbox declares must be there in full.
        for optional in (I.IMailboxRangeReads, I.IMailboxSelect, I.IMailboxUIDWindow, I.IMailboxRecent):
            if optional.providedBy(inbox):
                assert verifyObject(optional, inbox)
        assert inbox.account == self.ACCOUNT
        cols = await call(store.collections, self.ACCOUNT)
        assert verifyObject(I.ICollectionStore, cols)
        assert cols.account == self.ACCOUNT
        cal = await call(cols.collection, "calendar")
        assert verifyObject(I.ICollection, cal)
        assert cal.account == self.ACCOUNT

    @pytest_twisted.ensureDeferred
    async def test_unknown_scheme_is_bad_uri(self, store):
        with pytest.raises(BadStoreURI):
            await call(open_store, "no-such-backend-scheme:whatever")

    @pytest_twisted.ensureDeferred
    async def test_list_is_sorted_and_lower_cased(self, store):
        await call(store.accounts.add, "Carol@Example.COM", HASH_1)
        await call(store.accounts.add, "aaron@example.net", HASH_1)
        names = await call(store.accounts.list)
        assert names == sorted(names)
        assert names == sorted(["alice@example.com", "bob@example.org", "carol@example.com",
                                "aaron@example.net"])

    @pytest_twisted.ensureDeferred
    async def test_new_account_has_default_folders_with_roles(self, store):
        mail = await call(store.mail, self.ACCOUNT)
        entries = await call(mail.list_mailboxes)
        assert {e.name: e.role for e in entries} == DEFAULT_MAILBOXES
        assert len({e.id for e in entries}) == len(entries)
        for name, role in DEFAULT_MAILBOXES.items():
            box = await call(mail.mailbox_by_role, role)
            info = await call(box.info)
            assert info.name == name and info.role == role
            assert info.exists == 0

    @pytest_twisted.ensureDeferred
    async def test_new_account_has_default_collections(self, store):
        cols = await call(store.collections, self.ACCOUNT)
        infos = await call(cols.list_collections)
        assert {c.name for c in infos} == set(DEFAULT_COLLECTIONS)
        for info in infos:
            kind, display = DEFAULT_COLLECTIONS[info.name]
            assert info.kind == kind
            assert info.components == DEFAULT_COMPONENTS[kind]
            assert info.properties.get(PROP_DISPLAYNAME) == display
            assert info.count == 0

    @pytest_twisted.ensureDeferred
    async def test_duplicate_account_any_case(self, store):
        with pytest.raises(AlreadyExists):
            await call(store.accounts.add, self.ACCOUNT, HASH_2)
        with pytest.raises(AlreadyExists):
            await call(store.accounts.add, self.ACCOUNT.upper(), HASH_2)
        assert await call(store.accounts.password_hash, self.ACCOUNT) == HASH_1

    @pytest.mark.parametrize("bad", ["", "nobody", "a@", "@example.com", "a b@example.com",
                                     "a@b@example.com", "x@exa mple.com", "a\n@example.com"])
    @pytest_twisted.ensureDeferred
    async def test_bad_account_name(self, store, bad):
        before = await call(store.accounts.list)
        with pytest.raises(InvalidData):
            await call(store.accounts.add, bad, HASH_1)
        assert await call(store.accounts.list) == before

    @pytest_twisted.ensureDeferred
    async def test_names_are_case_insensitive(self, store):
        upper = self.ACCOUNT.upper()
        assert await call(store.accounts.password_hash, upper) == HASH_1
        mail = await call(store.mail, upper)
        assert mail.account == self.ACCOUNT
        cols = await call(store.collections, upper)
        assert cols.account == self.ACCOUNT
        # The same account through either spelling: a folder made via one is seen via the other.
        await call(mail.create_mailbox, "Projects")
        again = await call(store.mail, self.ACCOUNT)
        assert "Projects" in [e.name for e in await call(again.list_mailboxes)]

    @pytest_twisted.ensureDeferred
    async def test_password_hash(self, store):
        assert await call(store.accounts.password_hash, self.ACCOUNT) == HASH_1
        assert await call(store.accounts.password_hash, self.OTHER_ACCOUNT) == HASH_2
        assert await call(store.accounts.password_hash, "nobody@example.com") is None
        await call(store.accounts.set_password_hash, self.ACCOUNT, HASH_2)
        assert await call(store.accounts.password_hash, self.ACCOUNT) == HASH_2
        assert await call(store.accounts.password_hash, self.OTHER_ACCOUNT) == HASH_2
        with pytest.raises(NotFound):
            await call(store.accounts.set_password_hash, "nobody@example.com", HASH_1)

    @pytest_twisted.ensureDeferred
    async def test_unknown_account_mail_and_collections(self, store):
        with pytest.raises(NotFound):
            await call(store.mail, "nobody@example.com")
        with pytest.raises(NotFound):
            await call(store.collections, "nobody@example.com")
        with pytest.raises(NotFound):
            await call(store.accounts.remove, "nobody@example.com")

    @pytest_twisted.ensureDeferred
    async def test_remove_drops_everything(self, store):
        mail = await call(store.mail, self.ACCOUNT)
        await call(mail.create_mailbox, "Keep/Me")
        inbox = await call(mail.mailbox, "INBOX")
        await call(inbox.append, samples.message("bye"))
        cols = await call(store.collections, self.ACCOUNT)
        cal = await call(cols.collection, "calendar")
        await call(cal.put, "e.ics", samples.event("e1"))
        await call(store.devices.seen, self.ACCOUNT, "dev1", "eas", "Phone/1.0")
        await call(store.devices.save_state, self.ACCOUNT, "dev1", "k", b"v")
        other = await call(store.mail, self.OTHER_ACCOUNT)
        other_inbox = await call(other.mailbox, "INBOX")
        await call(other_inbox.append, samples.message("stays"))

        await call(store.accounts.remove, self.ACCOUNT.upper())

        assert self.ACCOUNT not in await call(store.accounts.list)
        assert await call(store.accounts.password_hash, self.ACCOUNT) is None
        with pytest.raises(NotFound):
            await call(store.mail, self.ACCOUNT)
        with pytest.raises(NotFound):
            await call(store.collections, self.ACCOUNT)
        # For an account that no longer exists, "nothing" and NotFound are both fine answers.
        assert await _or_not_found(call(store.devices.list, self.ACCOUNT), []) == []
        with pytest.raises(NotFound):
            await call(store.devices.get, self.ACCOUNT, "dev1")
        assert await _or_not_found(call(store.devices.load_state, self.ACCOUNT, "dev1", "k"), None) is None
        # The other account is untouched.
        assert (await call(other_inbox.info)).exists == 1

        # A re-created account starts empty: nothing of the old one comes back.
        await call(store.accounts.add, self.ACCOUNT, HASH_2)
        mail = await call(store.mail, self.ACCOUNT)
        assert {e.name for e in await call(mail.list_mailboxes)} == set(DEFAULT_MAILBOXES)
        inbox = await call(mail.mailbox, "INBOX")
        assert (await call(inbox.info)).exists == 0
        cols = await call(store.collections, self.ACCOUNT)
        cal = await call(cols.collection, "calendar")
        assert (await call(cal.info)).count == 0
        assert await call(cal.items) == []
        with pytest.raises(NotFound):
            await call(store.devices.get, self.ACCOUNT, "dev1")
        await call(store.devices.seen, self.ACCOUNT, "dev1", "eas", "Phone/1.0")
        assert await call(store.devices.load_state, self.ACCOUNT, "dev1", "k") is None

    @pytest_twisted.ensureDeferred
    async def test_calls_after_close_fail_instead_of_hanging(self, store, store_box):
        from twisted.internet import defer, reactor

        mail = await call(store.mail, self.ACCOUNT)
        await store_box.close()
        for method, args in ((store.accounts.list, ()), (mail.list_mailboxes, ()),
                             (store.devices.list, (self.ACCOUNT,))):
            d = call(method, *args)
            d.addTimeout(5, reactor)
            with pytest.raises(Exception) as info:
                await d
            assert not isinstance(info.value, defer.TimeoutError), f"{method} never answered"
