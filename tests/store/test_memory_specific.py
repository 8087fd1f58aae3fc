"""Behaviour only the ``memory:`` backend has: fresh and named stores, URI forms, closing,
and its indexes checked against brute force (the shared conformance suite covers the
interface contract itself)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.plugin import IPlugin
from zope.interface.verify import verifyObject

from smsync.formats.icalendar import SPAN_MAX, SPAN_MIN, span_matches
from smsync.errors import BadStoreURI, NotFound, SmsyncError
from smsync.interfaces import (
    IAccountStore,
    IChangeNotifier,
    IDeviceRegistry,
    IMailbox,
    IMailStore,
    IStore,
    IStoreBackend,
)
from smsync.model import CollectionKind, ItemInfo, UIDSet
from smsync.store.memory.backend import parse_uri
from smsync.store.memory.folder import FolderState
from smsync.store.memory.items import CollectionState, StoredItem
from smsync.store.memory.timeindex import BUCKET, WIDE_BUCKETS, SpanIndex
from smsync.store.registry import backends, open_store

ACCOUNT = "carol@example.net"


async def _store_with_message(uri: str):
    store = await open_store(uri)
    await store.accounts.add(ACCOUNT, "hash")
    inbox = await (await store.mail(ACCOUNT)).mailbox("INBOX")
    await inbox.append(b"Subject: x\r\n\r\nhello\r\n")
    return store


def test_plugin_is_found_by_scheme():
    backend = backends()["memory"]
    assert verifyObject(IPlugin, backend)
    assert verifyObject(IStoreBackend, backend)
    assert backend.scheme == "memory"


@pytest_twisted.ensureDeferred
async def test_store_objects_provide_their_interfaces():
    store = await _store_with_message("memory:")
    verifyObject(IStore, store)
    verifyObject(IAccountStore, store.accounts)
    verifyObject(IDeviceRegistry, store.devices)
    verifyObject(IChangeNotifier, store.notifier)
    mail = await store.mail(ACCOUNT)
    verifyObject(IMailStore, mail)
    verifyObject(IMailbox, await mail.mailbox("INBOX"))
    await store.close()


@pytest_twisted.ensureDeferred
async def test_anonymous_uri_opens_a_fresh_store_each_time():
    first = await _store_with_message("memory:")
    second = await open_store("memory:")
    assert second is not first
    assert await second.accounts.list() == []
    assert await first.accounts.list() == [ACCOUNT]
    await first.close()
    await second.close()


@pytest_twisted.ensureDeferred
async def test_named_store_is_shared_while_open():
    first = await _store_with_message("memory:shared-test")
    second = await open_store("memory://shared-test")
    assert second is first
    inbox = await (await second.mail(ACCOUNT)).mailbox("INBOX")
    assert (await inbox.info()).exists == 1
    # A different name is a different store.
    other = await open_store("memory:shared-test-2")
    assert other is not first and await other.accounts.list() == []
    await other.close()
    # One close per open: the store survives until its last user closes it.
    await first.close()
    assert await second.accounts.list() == [ACCOUNT]
    await second.close()
    with pytest.raises(SmsyncError):
        await second.accounts.list()
    again = await open_store("memory:shared-test")
    assert again is not first
    assert await again.accounts.list() == []
    await again.close()


@pytest_twisted.ensureDeferred
async def test_create_false_needs_an_open_named_store():
    with pytest.raises(BadStoreURI):
        await open_store("memory:nobody-opened-this", create=False)
    store = await open_store("memory:opened-here")
    assert await open_store("memory:opened-here", create=False) is store
    await store.close()
    await store.close()


@pytest_twisted.ensureDeferred
async def test_closed_store_refuses_work_and_handles_fail():
    store = await _store_with_message("memory:")
    inbox = await (await store.mail(ACCOUNT)).mailbox("INBOX")
    await store.close()
    with pytest.raises(SmsyncError):
        await inbox.info()
    with pytest.raises(SmsyncError):
        await store.mail(ACCOUNT)


@pytest_twisted.ensureDeferred
async def test_handles_of_a_removed_account_fail_with_not_found():
    store = await _store_with_message("memory:")
    inbox = await (await store.mail(ACCOUNT)).mailbox("INBOX")
    await store.accounts.remove(ACCOUNT)
    with pytest.raises(NotFound):
        await inbox.info()
    # Re-adding the name makes new folders; the old handle does not come back to life.
    await store.accounts.add(ACCOUNT, "hash")
    with pytest.raises(NotFound):
        await inbox.info()
    await store.close()


@pytest.mark.parametrize(
    "uri,name",
    [("memory:", None), ("MEMORY:", None), ("memory://", None), ("memory:a.b_c-1", "a.b_c-1"),
     ("memory://x/", "x")],
)
def test_parse_uri_accepts(uri, name):
    assert parse_uri(uri) == name


@pytest.mark.parametrize("uri", ["sqlite:///tmp/x", "memory", "memory:bad name", "memory:a/b", "memory:é"])
def test_parse_uri_rejects(uri):
    with pytest.raises(BadStoreURI):
        parse_uri(uri)


@pytest_twisted.ensureDeferred
async def test_bad_uri_fails_the_deferred():
    with pytest.raises(BadStoreURI):
        await open_store("memory:no spaces")


# -- indexes against brute force ----------------------------------------------------------

uid_ranges = st.lists(
    st.tuples(st.integers(1, 60), st.one_of(st.none(), st.integers(1, 60))), min_size=1, max_size=4
)


@settings(max_examples=200, deadline=None)
@given(present=st.sets(st.integers(1, 50)), ranges=uid_ranges)
def test_uidset_selection_matches_brute_force(present, ranges):
    folder = FolderState("id", "F", 1)
    folder.uids = sorted(present)
    uidset = UIDSet(tuple(ranges))
    highest = max(present) if present else 0
    bounded = list(uidset.bounded(highest))
    expected = [u for u in sorted(present) if any(min(a, b) <= u <= max(a, b) for a, b in bounded)]
    assert folder.select(uidset) == expected


def _overlaps(span, s, e):
    # The shared rule, from the formats module every store indexes with.
    return span_matches(span, SPAN_MIN if s is None else s, SPAN_MAX if e is None else e)


spans_st = st.lists(
    st.tuples(st.integers(0, 60 * BUCKET), st.integers(0, 3 * BUCKET)).map(lambda p: (p[0], p[0] + p[1])),
    max_size=6,
)
wide_st = st.tuples(st.integers(0, 10 * BUCKET), st.just((WIDE_BUCKETS + 5) * BUCKET)).map(
    lambda p: (p[0], p[0] + p[1])
)
bound_st = st.one_of(st.none(), st.integers(-BUCKET, 80 * BUCKET))


@settings(max_examples=200, deadline=None)
@given(
    items=st.dictionaries(
        st.sampled_from("abcdefgh"),
        st.tuples(st.one_of(spans_st, st.lists(wide_st, min_size=1, max_size=2)),
                  st.one_of(st.none(), st.integers(0, 70 * BUCKET))),
    ),
    removed=st.sets(st.sampled_from("abcdefgh")),
    s=bound_st,
    e=bound_st,
)
def test_span_index_matches_brute_force(items, removed, s, e):
    index = SpanIndex()
    for name, (spans, until) in items.items():
        index.add(name, [(0, 1)])  # replaced below: add must drop what was there
        index.add(name, spans, until)
    for name in removed:
        index.remove(name)
    live = {n: v for n, v in items.items() if n not in removed}
    matched, unsure = index.query(s, e)
    if s is not None and e is not None and e <= s:
        assert matched == set() and unsure == set()
        return
    assert matched == {n for n, (spans, _) in live.items() if any(_overlaps(sp, s, e) for sp in spans)}
    assert unsure == {
        n for n, (_, until) in live.items()
        if until is not None and n not in matched and (e is None or e > until)
    }


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_collection_change_log_survives_compaction(seed):
    """Thousands of rewrites and deletes of few names force the log to compact; every
    token, paged or not, must still get exactly the model's changes."""
    import random

    rng = random.Random(seed)
    coll = CollectionState("id", "c", CollectionKind.CALENDAR, frozenset({"VEVENT"}))
    current: dict[str, int] = {}
    deleted: dict[str, int] = {}
    tokens = [0]
    for step in range(3000):
        # Enough names that some tombstones and items outlive a compaction untouched.
        name = f"n{rng.randrange(300)}"
        if name in current and rng.random() < 0.3:
            rev = coll.next_revision()
            coll.delete(name, rev)
            del current[name]
            deleted[name] = rev
        else:
            rev = coll.next_revision()
            info = ItemInfo(name=name, uid=name, etag=f'"{step}"', revision=rev, size=1, component="VEVENT")
            coll.store(StoredItem(info, b"x"))
            current[name] = rev
            deleted.pop(name, None)
        if rng.random() < 0.01:
            tokens.append(rev)
    assert len(coll._log_revs) < 3000, "the log never compacted"
    for x in tokens + [coll.revision]:
        want_changed = sorted((r, n) for n, r in current.items() if r > x)
        want_deleted = set() if x == 0 else {n for n, r in deleted.items() if r > x}
        whole = coll.changes_since(x)
        assert [(i.revision, i.name) for i in whole.changed] == want_changed
        assert set(whole.deleted) == want_deleted and not whole.truncated
        changed, gone, cursor = [], [], x
        while True:
            page = coll.changes_since(cursor, 7)
            assert len(page.changed) + len(page.deleted) <= 7
            changed += [(i.revision, i.name) for i in page.changed]
            gone += page.deleted
            cursor = page.revision
            if not page.truncated:
                break
        assert changed == want_changed and cursor == coll.revision
        # From 0, later pages are ordinary tokens and may name deletions of gone names.
        assert set(gone) == want_deleted if x else set(gone) <= set(deleted)


WEEKLY = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:weekly-1\r\n"
    b"DTSTAMP:20240101T000000Z\r\nDTSTART:20240101T090000Z\r\nDTEND:20240101T100000Z\r\n"
    b"RRULE:FREQ=WEEKLY\r\nSUMMARY:standup\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest_twisted.ensureDeferred
async def test_ranges_past_the_horizon_are_answered_and_then_indexed():
    from smsync.formats.icalendar import overlaps

    store = await open_store("memory:")
    await store.accounts.add(ACCOUNT, "hash")
    cal = await (await store.collections(ACCOUNT)).collection("calendar")
    await cal.put("w.ics", WEEKLY)
    state = store._account_data(ACCOUNT).collections["calendar"]
    first_until = state.items["w.ics"].expanded_until
    assert first_until is not None  # infinite rule: spans stop at the horizon
    far = datetime(2040, 1, 2, 9, 30, tzinfo=timezone.utc)  # a Monday, inside 09:00-10:00
    windows = [(far, far + timedelta(minutes=10)), (far + timedelta(days=1), far + timedelta(days=2))]
    for start, end in windows * 2:  # twice: computed, then from the extended index
        got = [i.name for i in await cal.time_range(start, end)]
        assert got == (["w.ics"] if overlaps(WEEKLY, start, end) else [])
    assert [i.name for i in await cal.time_range(*windows[0])] == ["w.ics"]
    assert state.items["w.ics"].expanded_until > first_until
    # New content replaces the extended spans.
    await cal.put("w.ics", WEEKLY.replace(b"FREQ=WEEKLY", b"FREQ=WEEKLY;UNTIL=20250101T000000Z"))
    assert await cal.time_range(*windows[0]) == []
    await store.close()
