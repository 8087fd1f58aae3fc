"""The read path of the ``sqlite:`` store that IMAP leans on: the structure cache
(smsync/store/sqlite/reads.py) and UIDs answered from cached listings."""

from __future__ import annotations

import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.model import FlagMode, UIDSet
from smsync.store.registry import open_store
from smsync.store.sqlite.listing import Listings
from smsync.store.sqlite.reads import StructureCache
from smsync.testing import samples

ACCOUNT = "reader@example.org"

# Operations on a small key space so that hits, misses and evictions all happen.
_keys = st.integers(0, 12)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), _keys, st.integers(1, 40)),
        st.tuples(st.just("get"), _keys),
        st.tuples(st.just("get_many"), st.lists(_keys, max_size=8)),
    ),
    max_size=60,
)


class _Model:
    """What the cache must behave like: an LRU of sizes within a budget."""

    def __init__(self, budget: int):
        self.budget = budget
        self.entries: dict = {}  # insertion order = recency order

    def get(self, key):
        if key not in self.entries:
            return None
        self.entries[key] = self.entries.pop(key)
        return self.entries[key][0]

    def put(self, key, value, size):
        if key in self.entries or size > self.budget:
            return
        self.entries[key] = (value, size)
        while sum(s for _, s in self.entries.values()) > self.budget:
            del self.entries[next(iter(self.entries))]


@settings(max_examples=300, deadline=None)
@given(budget=st.integers(1, 100), ops=_ops)
def test_structure_cache_is_an_lru_within_budget(budget, ops):
    cache, model = StructureCache(budget), _Model(budget)
    for op in ops:
        if op[0] == "put":
            _, key, size = op
            value = ("structure", key, size)
            cache.put(key, value, size)
            model.put(key, value, size)
        elif op[0] == "get":
            assert cache.get(op[1]) == model.get(op[1])
        else:
            # get_many is get of each key in turn (recency included), under one lock.
            assert cache.get_many(op[1]) == [model.get(k) for k in op[1]]
        assert len(cache) == len(model.entries)
        assert sum(s for _, s in model.entries.values()) <= budget


@pytest_twisted.ensureDeferred
async def test_uids_come_from_the_cached_listing_and_follow_changes(tmp_path):
    """``uids()`` (IMAP SELECT) is answered from the folder's cached listing once there
    is one, brought up to date with changes made through another store handle."""
    uri = f"sqlite://{tmp_path}"
    first = await open_store(uri)
    await first.accounts.add(ACCOUNT, "!")
    first.listings = Listings(min_cached=1)
    second = await open_store(uri, create=False)
    try:
        mine = await (await first.mail(ACCOUNT)).mailbox("INBOX")
        theirs = await (await second.mail(ACCOUNT)).mailbox("INBOX")
        for n in range(10):
            await theirs.append(samples.message(f"u{n}"))
        # No listing yet: read from the table, and none is built for it.
        assert await mine.uids() == list(range(1, 11))
        assert first.listings.full_reads == 0
        await mine.messages()
        patches = first.listings.patches
        await theirs.store_flags(UIDSet.of([2, 5]), FlagMode.ADD, ["\\Deleted"])
        await theirs.expunge()
        await theirs.append(samples.message("late"))
        assert await mine.uids() == await theirs.uids() == [1, 3, 4, 6, 7, 8, 9, 10, 11]
        assert first.listings.patches > patches and first.listings.full_reads == 1
        # The caller owns the list it gets.
        (await mine.uids()).clear()
        assert len(await mine.uids()) == 9
    finally:
        await second.close()
        await first.close()


@pytest_twisted.ensureDeferred
async def test_info_and_uids_is_one_consistent_snapshot(tmp_path):
    """``info_and_uids()`` (IMAP SELECT's single read job) answers what ``info()`` and
    ``uids()`` answer, with or without a cached listing, and its EXISTS count is the
    length of its UID list."""
    uri = f"sqlite://{tmp_path}"
    store = await open_store(uri)
    await store.accounts.add(ACCOUNT, "!")
    store.listings = Listings(min_cached=1)
    try:
        box = await (await store.mail(ACCOUNT)).mailbox("INBOX")
        info, uids = await box.info_and_uids()
        assert (info, uids) == (await box.info(), await box.uids()) and uids == []
        for n in range(6):
            await box.append(samples.message(f"s{n}"), flags=["\\Seen"] if n < 2 else [])
        await box.messages()  # builds the cached listing
        await box.store_flags(UIDSet.of([4]), FlagMode.ADD, ["\\Deleted"])
        await box.expunge()
        info, uids = await box.info_and_uids()
        assert (info, uids) == (await box.info(), await box.uids())
        assert uids == [1, 2, 3, 5, 6] and info.exists == len(uids)
        assert info.first_unseen_uid == 3
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_a_transaction_reads_a_window_without_listing_the_folder(tmp_path):
    """Inside a transaction (a sync round) a few messages are read from the process's
    listing when it is at the transaction's revision of the folder, else by UID from
    the table: never by listing the whole folder. The transaction's own writes are
    seen, and never reach the process's listing."""
    store = await open_store(f"sqlite://{tmp_path}")
    await store.accounts.add(ACCOUNT, "!")
    store.listings = Listings(min_cached=1)
    try:
        box = await (await store.mail(ACCOUNT)).mailbox("INBOX")
        for n in range(20):
            await box.append(samples.message(f"t{n}"))
        txn = await store.transaction()
        tbox = await (await txn.mail(ACCOUNT)).mailbox("INBOX")
        # Nothing cached yet: read by UID.
        got = await tbox.messages(UIDSet.of([3, 4, 5]))
        assert await tbox.uids_after(17, 10) == [18, 19, 20]
        assert txn.listings.full_reads == store.listings.full_reads == 0
        await txn.commit()
        assert [m.uid for m in got] == [3, 4, 5] and got == await box.messages(UIDSet.of([3, 4, 5]))

        await box.messages()  # the process's listing, at the folder's revision
        full = store.listings.full_reads
        txn = await store.transaction()
        tbox = await (await txn.mail(ACCOUNT)).mailbox("INBOX")
        assert [m.uid for m in await tbox.messages(UIDSet.of([6, 7]))] == [6, 7]
        # Its own writes: the process's listing is of another revision now.
        await tbox.store_flags(UIDSet.of([7]), FlagMode.ADD, ["\\Flagged"])
        await tbox.remove(UIDSet.of([6]))
        got = await tbox.messages(UIDSet.of([6, 7, 8]))
        assert [(m.uid, m.flags) for m in got] == [(7, frozenset({"\\Flagged"})), (8, frozenset())]
        assert txn.listings.full_reads == 0 and store.listings.full_reads == full
        await txn.rollback()
        got = await box.messages(UIDSet.of([6, 7, 8]))
        assert [(m.uid, m.flags) for m in got] == [(6, frozenset()), (7, frozenset()), (8, frozenset())]
        assert store.listings.full_reads == full
    finally:
        await store.close()
