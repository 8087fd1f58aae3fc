"""Conformance of persistent backends: everything acknowledged before ``close`` is there
after opening the URI again, and the counters that must never go back do not.

Runs only for test classes that set ``reopen_supported = True``."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import pytest_twisted

from smsync.errors import NotFound, SyncTokenInvalid
from smsync.model import ConflictPolicy, FlagMode, Role, UIDSet
from smsync.testing import samples
from smsync.testing.base import HASH_1, StoreHarness, call


class PersistenceConformance(StoreHarness):
    @pytest_twisted.ensureDeferred
    async def test_mail_survives_reopen(self, store, reopen):
        mail = await call(store.mail, self.ACCOUNT)
        entry = await call(mail.create_mailbox, "Kept/Deep")
        await call(mail.subscribe, "Kept", False)
        await call(mail.set_role, "Archive", None)
        await call(mail.set_role, "Kept", Role.ARCHIVE)
        box = await call(mail.mailbox, "Kept/Deep")
        when = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        body = samples.message("persisted", size=20_000)
        uids = [(await call(box.append, body, ["\\Seen", "$Kw"], when)).uid for _ in range(3)]
        await call(box.store_flags, UIDSet.of([uids[0]]), FlagMode.ADD, ["\\Deleted"])
        await call(box.expunge)
        await call(box.remove, UIDSet.of([uids[2]]))  # the highest UID is gone before reopening
        token = (await call(box.info)).highestmodseq - 1
        before = await call(box.info)
        msgs_before = await call(box.messages)
        entries_before = await call(mail.list_mailboxes)

        store = await reopen()

        mail = await call(store.mail, self.ACCOUNT)
        assert await call(mail.list_mailboxes) == entries_before
        box = await call(mail.mailbox_by_id, entry.id)
        assert await call(box.info) == before
        assert await call(box.messages) == msgs_before
        assert await call(box.read_body, uids[1]) == body
        assert (await call(box.structures, [uids[1]]))[uids[1]].subject == "persisted"
        assert (await call(box.changes_since, token)).expunged == (uids[2],)
        assert (await call(mail.mailbox_by_role, Role.ARCHIVE)).id == (await call(mail.mailbox, "Kept")).id
        fresh = await call(box.append, samples.message("after reopen"))
        assert fresh.uid > uids[2], "UIDs must never be reused, also across restarts"
        assert fresh.modseq > before.highestmodseq
        assert fresh.uidvalidity == before.uidvalidity

    @pytest_twisted.ensureDeferred
    async def test_uidvalidity_fresh_after_reopen(self, store, reopen):
        mail = await call(store.mail, self.ACCOUNT)
        await call(mail.create_mailbox, "Cycle")
        first = await call((await call(mail.mailbox, "Cycle")).info)
        await call(mail.delete_mailbox, "Cycle")
        store = await reopen()
        mail = await call(store.mail, self.ACCOUNT)
        await call(mail.create_mailbox, "Cycle")
        second = await call((await call(mail.mailbox, "Cycle")).info)
        assert second.uidvalidity != first.uidvalidity and second.id != first.id

    @pytest_twisted.ensureDeferred
    async def test_collections_survive_reopen(self, store, reopen):
        cols = await call(store.collections, self.ACCOUNT)
        cal = await call(cols.collection, "calendar")
        await call(cal.set_properties, {"{urn:x}dead": "<d xmlns='urn:x'>v</d>", "color": "#123456"})
        content = samples.recurring_event()
        await call(cal.put, "r.ics", content)
        await call(cal.put, "gone.ics", samples.event("gone"))
        token = (await call(cal.info)).revision
        await call(cal.delete, "gone.ics")
        info = await call(cal.info)
        items = await call(cal.items)

        store = await reopen()

        cols = await call(store.collections, self.ACCOUNT)
        cal = await call(cols.collection_by_id, info.id)
        assert await call(cal.info) == info
        assert (await call(cal.info)).properties == info.properties
        assert await call(cal.items) == items
        assert (await call(cal.get, ["r.ics"]))[0].content == content
        assert (await call(cal.changes_since, token)).deleted == ("gone.ics",)
        with pytest.raises(SyncTokenInvalid):
            await call(cal.changes_since, info.revision + 1)
        hits = await call(cal.time_range, samples.utc(2024, 3, 20, 15), samples.utc(2024, 3, 20, 16))
        assert [i.name for i in hits] == ["r.ics"]
        later = await call(cal.put, "new.ics", samples.event("new"))
        assert later.revision > info.revision

    @pytest_twisted.ensureDeferred
    async def test_accounts_and_devices_survive_reopen(self, store, reopen):
        reg = store.devices
        dev = await call(reg.seen, self.ACCOUNT, "phone", "eas", "UA/1", "Phone")
        await call(reg.set_conflict_policy, self.ACCOUNT, "phone", ConflictPolicy.KEEP_BOTH)
        await call(reg.save_states, self.ACCOUNT, "phone", {"k1": b"v1", "k2": b"\x00"})
        await call(reg.log, self.ACCOUNT, "phone", "synced")
        await call(store.accounts.remove, self.OTHER_ACCOUNT)
        dev = await call(reg.get, self.ACCOUNT, "phone")

        store = await reopen()

        assert await call(store.accounts.list) == [self.ACCOUNT]
        assert await call(store.accounts.password_hash, self.ACCOUNT) == HASH_1
        with pytest.raises(NotFound):
            await call(store.mail, self.OTHER_ACCOUNT)
        assert await call(store.devices.get, self.ACCOUNT, "phone") == dev
        assert await call(store.devices.load_state, self.ACCOUNT, "phone", "k1") == b"v1"
        assert await call(store.devices.load_state, self.ACCOUNT, "phone", "k2") == b"\x00"
        assert [e.message for e in await call(store.devices.get_log, self.ACCOUNT, "phone")] == ["synced"]
