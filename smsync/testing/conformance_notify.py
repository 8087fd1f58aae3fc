"""Conformance of change notification: every committed change is announced on
``IStore.notifier`` to the account's subscribers (IMAP IDLE, EAS Ping, EWS push)."""

from __future__ import annotations

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from smsync.interfaces import ISubscription
from smsync.model import ChangeEvent, ChangeKind, CollectionKind, FlagMode, UIDSet
from smsync.testing import samples
from smsync.testing.base import StoreHarness, call, eventually, sleep


class _Recorder:
    def __init__(self):
        self.events: list[ChangeEvent] = []

    def __call__(self, event):
        self.events.append(event)

    def take(self) -> list[ChangeEvent]:
        events, self.events = self.events, []
        return events

    async def next_matching(self, kind, name=None) -> ChangeEvent:
        """Wait for an event of ``kind`` (about ``name`` when given) and return it."""
        def match(e):
            return e.kind == kind and (name is None or e.name == name)
        await eventually(lambda: any(match(e) for e in self.events))
        found = [e for e in self.events if match(e)][-1]
        self.events = []
        return found


class NotifyConformance(StoreHarness):
    @pytest.fixture
    def recorder(self, store):
        rec = _Recorder()
        sub = store.notifier.subscribe(self.ACCOUNT, rec)
        assert verifyObject(ISubscription, sub)
        yield rec
        sub.cancel()

    @pytest_twisted.ensureDeferred
    async def test_mail_changes_notify(self, mail, recorder):
        inbox = await call(mail.mailbox, "INBOX")
        r = await call(inbox.append, samples.message())
        event = await recorder.next_matching(ChangeKind.MAIL, "INBOX")
        assert event.account == self.ACCOUNT
        assert event.revision in (None, r.modseq)
        assert event.folder_id in (None, inbox.id)

        res = await call(inbox.store_flags, UIDSet.of([r.uid]), FlagMode.ADD, ["\\Deleted"])
        event = await recorder.next_matching(ChangeKind.MAIL, "INBOX")
        assert event.revision in (None, res.changed[0].modseq)

        await call(inbox.expunge)
        event = await recorder.next_matching(ChangeKind.MAIL, "INBOX")
        assert event.revision in (None, (await call(inbox.info)).highestmodseq)

        await call(inbox.append, samples.message("second"))
        await recorder.next_matching(ChangeKind.MAIL, "INBOX")
        await call(inbox.move, UIDSet.all(), "Trash")
        await recorder.next_matching(ChangeKind.MAIL, "Trash")

    @pytest_twisted.ensureDeferred
    async def test_hierarchy_changes_notify(self, store, mail, collections, recorder):
        await call(mail.create_mailbox, "Fresh")
        await recorder.next_matching(ChangeKind.HIERARCHY)
        await call(mail.rename_mailbox, "Fresh", "Renamed")
        await recorder.next_matching(ChangeKind.HIERARCHY)
        await call(mail.delete_mailbox, "Renamed")
        await recorder.next_matching(ChangeKind.HIERARCHY)
        await call(collections.create_collection, "new-cal", CollectionKind.CALENDAR)
        await recorder.next_matching(ChangeKind.HIERARCHY)

    @pytest_twisted.ensureDeferred
    async def test_collection_changes_notify(self, collections, recorder):
        cal = await call(collections.collection, "calendar")
        info = await call(cal.put, "a.ics", samples.event("a"))
        event = await recorder.next_matching(ChangeKind.COLLECTION, "calendar")
        assert event.account == self.ACCOUNT and event.revision in (None, info.revision)
        rev = await call(cal.delete, "a.ics")
        event = await recorder.next_matching(ChangeKind.COLLECTION, "calendar")
        assert event.revision in (None, rev)

    @pytest_twisted.ensureDeferred
    async def test_only_the_account_is_told(self, store, recorder):
        other = await call(store.mail, self.OTHER_ACCOUNT)
        inbox = await call(other.mailbox, "INBOX")
        await call(inbox.append, samples.message())
        await sleep(0.3)
        assert recorder.take() == []

    @pytest_twisted.ensureDeferred
    async def test_subscribe_any_case_and_cancel(self, store, mail):
        rec = _Recorder()
        sub = store.notifier.subscribe(self.ACCOUNT.upper(), rec)
        inbox = await call(mail.mailbox, "INBOX")
        await call(inbox.append, samples.message())
        await rec.next_matching(ChangeKind.MAIL, "INBOX")
        sub.cancel()
        sub.cancel()  # idempotent
        await sleep(0.05)
        rec.take()
        await call(inbox.append, samples.message("unheard"))
        await sleep(0.3)
        assert rec.take() == []

    @pytest_twisted.ensureDeferred
    async def test_raising_subscriber_does_not_stop_others(self, store, mail):
        calls = []

        def bad(event):
            calls.append(event)
            raise RuntimeError("subscriber bug (expected by the conformance suite)")

        first, second = _Recorder(), _Recorder()
        subs = [store.notifier.subscribe(self.ACCOUNT, cb) for cb in (first, bad, second)]
        try:
            inbox = await call(mail.mailbox, "INBOX")
            await call(inbox.append, samples.message())
            await first.next_matching(ChangeKind.MAIL, "INBOX")
            await second.next_matching(ChangeKind.MAIL, "INBOX")
            assert calls
            # The store keeps working and keeps notifying after a subscriber raised.
            await call(inbox.append, samples.message("again"))
            await second.next_matching(ChangeKind.MAIL, "INBOX")
        finally:
            for sub in subs:
                sub.cancel()
