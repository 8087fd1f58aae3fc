"""Conformance of store transactions (``IStoreTransactions``, an optional ability).

A backend that does not declare the ability skips these tests; one that does must keep
its promise: writes through a transaction's handles are invisible to everyone else until
``commit``, announced only then, undone by ``rollback``, and a failing write undoes only
itself. That a committed transaction survives a crash and an uncommitted one leaves
nothing is checked by the sync engine's SIGKILL test over our SQL stores.
"""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.errors import PreconditionFailed, UidConflict
from smsync.interfaces import IMailboxUIDWindow, IStoreTransaction, IStoreTransactions
from smsync.model import FlagMode, UIDSet
from smsync.testing import samples
from smsync.testing.base import StoreHarness, call


class TransactionConformance(StoreHarness):
    @pytest.fixture
    def txn_store(self, store):
        if not IStoreTransactions.providedBy(store):
            pytest.skip("the store does not offer IStoreTransactions")
        return store

    async def _begin(self, store):
        txn = await call(store.transaction)
        assert IStoreTransaction.providedBy(txn)
        return txn

    @pytest_twisted.ensureDeferred
    async def test_commit_makes_writes_visible_at_once(self, txn_store):
        outside = await call((await call(txn_store.collections, self.ACCOUNT)).collection, "calendar")
        box = await call((await call(txn_store.mail, self.ACCOUNT)).mailbox, "INBOX")
        txn = await self._begin(txn_store)
        inside = await call((await call(txn.collections, self.ACCOUNT)).collection, "calendar")
        tbox = await call((await call(txn.mail, self.ACCOUNT)).mailbox, "INBOX")
        await call(inside.put, "a.ics", samples.event("txn-a"))
        appended = await call(tbox.append, samples.message("in a transaction"))
        await call(txn.devices.seen, self.ACCOUNT, "dev1", "eas")
        await call(txn.devices.save_state, self.ACCOUNT, "dev1", "k", b"v")

        # The transaction sees its own writes...
        assert [i.name for i in await call(inside.items)] == ["a.ics"]
        assert [m.uid for m in await call(tbox.messages)] == [appended.uid]
        # ...nobody else does yet.
        assert await call(outside.items) == []
        assert await call(box.messages) == []

        await call(txn.commit)
        assert [i.name for i in await call(outside.items)] == ["a.ics"]
        assert [m.uid for m in await call(box.messages)] == [appended.uid]
        assert await call(box.read_body, appended.uid) == samples.message("in a transaction")
        assert await call(txn_store.devices.load_state, self.ACCOUNT, "dev1", "k") == b"v"

    @pytest_twisted.ensureDeferred
    async def test_rollback_undoes_everything(self, txn_store):
        colls = await call(txn_store.collections, self.ACCOUNT)
        outside = await call(colls.collection, "calendar")
        await call(outside.put, "keep.ics", samples.event("keep"))
        box = await call((await call(txn_store.mail, self.ACCOUNT)).mailbox, "INBOX")
        kept = await call(box.append, samples.message("kept"))
        before = await call(box.info)

        txn = await self._begin(txn_store)
        inside = await call((await call(txn.collections, self.ACCOUNT)).collection, "calendar")
        tbox = await call((await call(txn.mail, self.ACCOUNT)).mailbox, "INBOX")
        await call(inside.put, "new.ics", samples.event("new"))
        await call(inside.delete, "keep.ics")
        await call(tbox.append, samples.message("gone"))
        await call(tbox.store_flags, UIDSet.of([kept.uid]), FlagMode.ADD, ["\\Seen"])
        await call(txn.rollback)

        assert [i.name for i in await call(outside.items)] == ["keep.ics"]
        messages = await call(box.messages)
        assert [(m.uid, m.flags) for m in messages] == [(kept.uid, frozenset())]
        after = await call(box.info)
        assert (after.exists, after.highestmodseq) == (before.exists, before.highestmodseq)
        # The store goes on working after it.
        again = await call(box.append, samples.message("after"))
        assert again.uid > kept.uid
        assert [m.uid for m in await call(box.messages)] == [kept.uid, again.uid]

    @pytest_twisted.ensureDeferred
    async def test_a_failing_write_undoes_only_itself(self, txn_store):
        txn = await self._begin(txn_store)
        inside = await call((await call(txn.collections, self.ACCOUNT)).collection, "calendar")
        first = await call(inside.put, "a.ics", samples.event("same-uid"))
        with pytest.raises(UidConflict):
            await call(inside.put, "b.ics", samples.event("same-uid"))
        with pytest.raises(PreconditionFailed):
            await call(inside.put, "a.ics", samples.event("same-uid", summary="x"), if_match='"nope"')
        await call(inside.put, "c.ics", samples.event("other"))
        await call(txn.commit)
        outside = await call((await call(txn_store.collections, self.ACCOUNT)).collection, "calendar")
        items = await call(outside.items)
        assert [i.name for i in items] == ["a.ics", "c.ics"]
        assert items[0].etag == first.etag

    @pytest_twisted.ensureDeferred
    async def test_a_few_messages_read_inside_see_the_transactions_writes(self, txn_store):
        # What the sync engine does each round: read a window of a folder by UID inside
        # its transaction, around its own writes.
        box = await call((await call(txn_store.mail, self.ACCOUNT)).mailbox, "INBOX")
        kept = [(await call(box.append, samples.message(f"kept {n}"))).uid for n in range(6)]
        await call(box.messages)  # whatever a backend caches of the folder, it has now
        txn = await self._begin(txn_store)
        tbox = await call((await call(txn.mail, self.ACCOUNT)).mailbox, "INBOX")
        window = UIDSet.of(kept[1:4])
        assert [m.uid for m in await call(tbox.messages, window)] == kept[1:4]
        await call(tbox.store_flags, UIDSet.of([kept[2]]), FlagMode.ADD, ["\\Flagged"])
        await call(tbox.remove, UIDSet.of([kept[3]]))
        added = await call(tbox.append, samples.message("inside"))
        inside = await call(tbox.messages, UIDSet.of([*kept[1:4], added.uid]))
        assert [m.uid for m in inside] == [kept[1], kept[2], added.uid]
        assert inside[1].flags == frozenset({"\\Flagged"})
        if IMailboxUIDWindow.providedBy(tbox):
            assert await call(tbox.uids_after, kept[1], 10) == [kept[2], *kept[4:], added.uid]
        # Outside, none of it yet; and none of it at all once rolled back.
        outside = await call(box.messages, UIDSet.of([*kept[1:4], added.uid]))
        assert [(m.uid, m.flags) for m in outside] == [(u, frozenset()) for u in kept[1:4]]
        await call(txn.rollback)
        again = await call(box.messages, UIDSet.of([*kept[1:4], added.uid]))
        assert [(m.uid, m.flags) for m in again] == [(u, frozenset()) for u in kept[1:4]]
        assert [m.uid for m in await call(box.messages)] == kept

    @pytest_twisted.ensureDeferred
    async def test_changes_are_announced_after_commit_only(self, txn_store):
        seen = []
        subscription = txn_store.notifier.subscribe(self.ACCOUNT, seen.append)
        try:
            txn = await self._begin(txn_store)
            tbox = await call((await call(txn.mail, self.ACCOUNT)).mailbox, "INBOX")
            await call(tbox.append, samples.message("quiet"))
            assert seen == []
            await call(txn.commit)
            assert seen, "the commit announced nothing"
        finally:
            subscription.cancel()

    @pytest_twisted.ensureDeferred
    async def test_an_ended_transaction_refuses_work(self, txn_store):
        txn = await self._begin(txn_store)
        tbox = await call((await call(txn.mail, self.ACCOUNT)).mailbox, "INBOX")
        await call(txn.commit)
        with pytest.raises(Exception):
            await call(tbox.append, samples.message("late"))
        await call(txn.rollback)  # harmless after the end

    @pytest_twisted.ensureDeferred
    async def test_writes_outside_wait_and_then_land(self, txn_store):
        box = await call((await call(txn_store.mail, self.ACCOUNT)).mailbox, "INBOX")
        txn = await self._begin(txn_store)
        tbox = await call((await call(txn.mail, self.ACCOUNT)).mailbox, "INBOX")
        await call(tbox.append, samples.message("inside"))
        outside = call(box.append, samples.message("outside"))
        await call(txn.commit)
        await outside
        assert len(await call(box.messages)) == 2
