"""The LISTEN/NOTIFY change feed: other stores' (processes') changes reach subscribers,
and after the feed's connection is killed the notifier reconnects, sends RESYNC to every
subscriber, and goes on delivering."""

from __future__ import annotations

import pytest_twisted
from pg_support import admin_sql, fresh_schema_uri, pg_database  # noqa: F401

from smsync.model import ChangeKind
from smsync.store.registry import open_store
from smsync.testing import samples
from smsync.testing.base import eventually, sleep

ALICE = "alice@example.com"
BOB = "bob@example.com"


async def _two_stores(uri):
    """Two independent stores on one schema: each has its own connections and its own
    origin, as two frontend processes would."""
    a = await open_store(uri)
    b = await open_store(uri)
    await a.accounts.add(ALICE, "h")
    await a.accounts.add(BOB, "h")
    return a, b


@pytest_twisted.ensureDeferred
async def test_change_in_one_store_reaches_the_other(pg_database):
    a, b = await _two_stores(fresh_schema_uri(pg_database))
    try:
        heard, bob_heard = [], []
        a.notifier.subscribe(ALICE, heard.append)
        a.notifier.subscribe(BOB, bob_heard.append)
        inbox_b = await (await b.mail(ALICE)).mailbox("INBOX")
        result = await inbox_b.append(samples.message())
        await eventually(lambda: any(e.kind == ChangeKind.MAIL for e in heard))
        event = [e for e in heard if e.kind == ChangeKind.MAIL][0]
        assert (event.account, event.name, event.revision, event.folder_id) == (
            ALICE, "INBOX", result.modseq, inbox_b.id,
        )
        cal = await (await b.collections(ALICE)).collection("calendar")
        info = await cal.put("e.ics", samples.event("e"))
        await eventually(lambda: any(e.kind == ChangeKind.COLLECTION and e.revision == info.revision for e in heard))
        await (await b.mail(ALICE)).create_mailbox("New")
        await eventually(lambda: any(e.kind == ChangeKind.HIERARCHY for e in heard))
        await sleep(0.1)
        assert bob_heard == []
        # A store's own changes are delivered once, not again through NOTIFY.
        own = []
        b.notifier.subscribe(ALICE, own.append)
        await inbox_b.append(samples.message("own"))
        await sleep(0.3)
        assert len([e for e in own if e.kind == ChangeKind.MAIL]) == 1
    finally:
        await a.close()
        await b.close()


@pytest_twisted.ensureDeferred
async def test_lost_feed_reconnects_with_resync(pg_database):
    a, b = await _two_stores(fresh_schema_uri(pg_database))
    try:
        heard, bob_heard = [], []
        a.notifier.subscribe(ALICE, heard.append)
        a.notifier.subscribe(BOB, bob_heard.append)
        pid = a.notifier.backend_pid
        assert pid is not None
        assert admin_sql("SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
        await eventually(lambda: any(e.kind == ChangeKind.RESYNC for e in heard), timeout=10)
        await eventually(lambda: any(e.kind == ChangeKind.RESYNC for e in bob_heard), timeout=10)
        assert a.notifier.connected and a.notifier.backend_pid != pid
        assert a.notifier.resyncs == 1
        heard.clear()
        inbox_b = await (await b.mail(ALICE)).mailbox("INBOX")
        result = await inbox_b.append(samples.message("after the reconnect"))
        await eventually(lambda: any(e.kind == ChangeKind.MAIL and e.revision == result.modseq for e in heard))
    finally:
        await a.close()
        await b.close()


@pytest_twisted.ensureDeferred
async def test_close_while_reconnecting_does_not_hang(pg_database):
    a, b = await _two_stores(fresh_schema_uri(pg_database))
    await b.close()
    heard = []
    a.notifier.subscribe(ALICE, heard.append)
    admin_sql("SELECT pg_terminate_backend(%s)", (a.notifier.backend_pid,))
    await eventually(lambda: not a.notifier.connected, timeout=5)
    await a.close()
    await sleep(0.3)
    assert not a.notifier.connected
