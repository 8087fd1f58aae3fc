"""sqlite: the append pipeline (call order, durability order) and cached folder listings."""

from __future__ import annotations

import io
import os
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer

from smsync.errors import NotFound
from smsync.model import FlagMode, MessageInfo, UIDSet
from smsync.store.registry import open_store
from smsync.store.sqlite import bodies as bodies_module
from smsync.store.sqlite import listing
from smsync.store.sqlite.listing import Listings
from smsync.testing import (
    FolderConformance,
    MailChangesConformance,
    MailConformance,
    StatefulConformance,
    samples,
)

ACCOUNT = "erin@example.com"


async def fresh(directory):
    store = await open_store(f"sqlite://{directory}")
    await store.accounts.add(ACCOUNT, "x")
    return store


class _BrokenFile(io.RawIOBase):
    """A body whose read fails half-way (a client connection dropping mid-APPEND)."""

    def readable(self):
        return True

    def read(self, size=-1):
        raise OSError("connection lost")


@pytest_twisted.ensureDeferred
async def test_concurrent_appends_get_uids_in_call_order(tmp_path):
    store = await fresh(tmp_path)
    try:
        mail = await store.mail(ACCOUNT)
        await mail.create_mailbox("Other")
        inbox, other = await mail.mailbox("INBOX"), await mail.mailbox("Other")
        # Big bodies take far longer to parse and write than small ones, so bodies finish
        # in a different order than they were handed in; a few fail outright.
        calls = []
        for n in range(60):
            if n % 15 == 7:
                calls.append((inbox, None))
                continue
            size = 3_000_000 if n % 10 == 0 else 0
            body = samples.message(f"m{n}", body="x" * 76 + "\r\n" * (size // 78 + 1))
            calls.append((other if n % 4 == 3 else inbox, body))
        ds = [box.append(_BrokenFile() if body is None else body) for box, body in calls]
        results = await defer.DeferredList(ds, consumeErrors=True)
        for box in (inbox, other):
            mine = [(body, r) for (b, body), r in zip(calls, results) if b is box and body]
            uids = [res.uid for body, (ok, res) in mine]
            assert uids == list(range(1, len(mine) + 1)), "UIDs not in call order"
            modseqs = [res.modseq for body, (ok, res) in mine]
            assert modseqs == sorted(modseqs) and len(set(modseqs)) == len(modseqs)
            for body, (ok, res) in mine:
                assert await box.read_body(res.uid) == body
        failed = [r for (box, body), (ok, r) in zip(calls, results) if body is None]
        assert failed and all(isinstance(f.value, OSError) for f in failed)
        # A failure in a lane does not stall it: the folder keeps taking appends.
        res = await inbox.append(samples.message("after"))
        assert res.uid == (await inbox.info()).uidnext - 1
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_bodies_durable_before_rows_and_rows_before_answers(tmp_path):
    """Watch the pipeline: at the start of every syncfs, each committed row must name a
    body an earlier, finished syncfs made durable; and an append is answered only after
    its row is committed with the log fsynced (synchronous=FULL), its body durable."""
    store = await fresh(tmp_path)
    bodies = store.bodies
    if not bodies.group_sync:
        pytest.skip("no syncfs here: bodies are fsynced one by one")
    lock = threading.Lock()
    spy = sqlite3.connect(store.db.path, check_same_thread=False)
    written, durable, violations = set(), set(), []
    real_write, real_sync = bodies.write, bodies.sync_all

    def write(data):
        rel, directory = real_write(data)
        with lock:
            written.add(rel)
        return rel, directory

    def sync_all():
        with lock:
            candidates = set(written)
            committed = {p for (p,) in spy.execute("SELECT path FROM bodies")}
            if not committed <= durable:
                violations.append(sorted(committed - durable))
        real_sync()
        with lock:
            durable.update(candidates)

    bodies.write, bodies.sync_all = write, sync_all
    try:
        assert store.db._writer_conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        inbox = await (await store.mail(ACCOUNT)).mailbox("INBOX")

        async def deliver(n):
            res = await inbox.append(samples.message(f"d{n}"))
            with lock:
                (path,) = spy.execute(
                    "SELECT b.path FROM messages m JOIN bodies b ON b.id = m.body_id"
                    " WHERE m.folder_id = ? AND m.uid = ?",
                    (inbox._pk, res.uid),
                ).fetchone()
                if path not in durable:
                    violations.append(f"UID {res.uid} answered before its body was durable")

        await defer.gatherResults(
            [defer.Deferred.fromCoroutine(deliver(n)) for n in range(120)]
        )
        assert not violations, violations[:5]
        assert len(durable) >= 120
    finally:
        bodies.write, bodies.sync_all = real_write, real_sync
        spy.close()
        await store.close()


@pytest_twisted.ensureDeferred
async def test_listing_follows_changes_of_another_handle(tmp_path):
    uri = f"sqlite://{tmp_path}"
    first = await fresh(tmp_path)
    first.listings = Listings(min_cached=1)
    second = await open_store(uri, create=False)
    try:
        mine = await (await first.mail(ACCOUNT)).mailbox("INBOX")
        theirs = await (await second.mail(ACCOUNT)).mailbox("INBOX")
        for n in range(30):
            await theirs.append(samples.message(f"o{n}"), ["\\Seen"] if n % 2 else [])
        assert [m.uid for m in await mine.messages()] == list(range(1, 31))
        reads = first.listings.full_reads

        await theirs.store_flags(UIDSet.of([3, 4]), FlagMode.ADD, ["\\Deleted"])
        assert await theirs.expunge() == [3, 4]
        await theirs.store_flags(UIDSet.of([10]), FlagMode.SET, ["$Junk"])
        await theirs.append(samples.message("late"))
        await theirs.copy(UIDSet.range(1, 2), "INBOX")

        got = await mine.messages()
        want = await theirs.messages()
        assert got == want and [m.uid for m in got] == [1, 2, *range(5, 34)]
        assert next(m for m in got if m.uid == 10).flags == frozenset({"$Junk"})
        assert first.listings.full_reads == reads and first.listings.patches >= 1
        assert [m.uid for m in await mine.messages(UIDSet(((2, 6), (5, 9), (31, None))))] == [
            2, 5, 6, 7, 8, 9, 31, 32, 33
        ]
    finally:
        await second.close()
        await first.close()


@pytest_twisted.ensureDeferred
async def test_listing_of_a_recreated_folder_starts_over(tmp_path):
    store = await fresh(tmp_path)
    store.listings = Listings(min_cached=1)
    try:
        mail = await store.mail(ACCOUNT)
        await mail.create_mailbox("Box")
        box = await mail.mailbox("Box")
        for n in range(5):
            await box.append(samples.message(f"b{n}"))
        assert len(await box.messages()) == 5
        await mail.delete_mailbox("Box")
        with pytest.raises(NotFound):
            await box.messages()
        await mail.create_mailbox("Box")
        again = await mail.mailbox("Box")
        await again.append(samples.message("new"))
        assert [m.uid for m in await again.messages()] == [1]
    finally:
        await store.close()


class _CachedListings:
    """Run conformance with every folder's listing cached, so patching is exercised."""

    reopen_supported = True

    @pytest.fixture
    def store_uri(self, tmp_path, monkeypatch):
        monkeypatch.setattr(listing, "MIN_CACHED", 0)
        return f"sqlite://{tmp_path / 'store'}"


class TestCachedListingMail(_CachedListings, MailConformance, MailChangesConformance):
    pass


class TestCachedListingFolders(_CachedListings, FolderConformance):
    pass


class TestCachedListingStateful(_CachedListings, StatefulConformance):
    pass


@pytest_twisted.ensureDeferred
async def test_close_finishes_appends_in_flight(tmp_path):
    """32 appends called just before close(): each is acknowledged (none hangs or is
    dropped), and the reopened store holds them in call order."""
    store = await fresh(tmp_path)
    inbox = await (await store.mail(ACCOUNT)).mailbox("INBOX")
    bodies = [samples.message(f"c{n}", body="y" * 70 + "\r\n" * (n * 50)) for n in range(32)]
    ds = [inbox.append(body) for body in bodies]
    closing = store.close()
    results = await defer.gatherResults(ds)
    await closing
    assert [r.uid for r in results] == list(range(1, 33))
    again = await open_store(f"sqlite://{tmp_path}", create=False)
    try:
        box = await (await again.mail(ACCOUNT)).mailbox("INBOX")
        assert await box.uids() == list(range(1, 33))
        for uid, body in enumerate(bodies, 1):
            assert await box.read_body(uid) == body
        assert again.orphans_removed == 0
    finally:
        await again.close()


@pytest_twisted.ensureDeferred
async def test_two_handles_appending_to_one_folder(tmp_path):
    """Two stores on one directory (as two processes would be), 32 concurrent appends
    each into one folder: UIDs and MODSEQs are distinct, and each handle's UIDs follow
    its own call order."""
    first = await fresh(tmp_path)
    second = await open_store(f"sqlite://{tmp_path}", create=False)
    try:
        boxes = [await (await s.mail(ACCOUNT)).mailbox("INBOX") for s in (first, second)]
        calls = {0: [], 1: []}
        ds = []
        for n in range(64):
            which = n % 2
            body = samples.message(f"h{which}-{n}", body="z" * 70 + "\r\n" * ((n % 7) * 400))
            calls[which].append(body)
            ds.append(boxes[which].append(body))
        results = await defer.gatherResults(ds)
        mine = {0: results[0::2], 1: results[1::2]}
        assert sorted(r.uid for r in results) == list(range(1, 65))
        assert len({r.modseq for r in results}) == 64
        for which in (0, 1):
            uids = [r.uid for r in mine[which]]
            assert uids == sorted(uids), "a handle's UIDs are not in its call order"
            for res, body in zip(mine[which], calls[which]):
                assert await boxes[1 - which].read_body(res.uid) == body
    finally:
        await second.close()
        await first.close()


class _FsyncMode:
    """The pipeline where ``syncfs`` is missing: each body fsynced, then its directory."""

    @pytest.fixture(autouse=True)
    def no_syncfs(self, monkeypatch):
        monkeypatch.setattr(bodies_module, "_syncfs", None)


@pytest_twisted.ensureDeferred
async def test_fsync_mode_syncs_bodies_before_their_rows(tmp_path, monkeypatch):
    """Without syncfs: when a round commits an append's rows, that body file and its
    directory have been fsynced; UIDs still follow call order."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to name the files fsync is called on")
    monkeypatch.setattr(bodies_module, "_syncfs", None)
    store = await fresh(tmp_path)
    assert not store.bodies.group_sync
    lock = threading.Lock()
    synced, violations, committed = set(), [], []
    real_fsync, real_fsync_dir = os.fsync, bodies_module.fsync_dir
    real_run_batch = store.db._run_batch

    def fsync(fd):
        real_fsync(fd)
        with lock:
            synced.add(os.readlink(f"/proc/self/fd/{fd}"))

    def fsync_dir(path):
        real_fsync_dir(path)
        with lock:
            synced.add(os.path.realpath(path) + "/")

    def run_batch(batch):
        with lock:
            for job in batch:
                for entry in job.entries or ():
                    full = os.path.join(root, entry.value.body.path)
                    committed.append(full)
                    if full not in synced or os.path.dirname(full) + "/" not in synced:
                        violations.append(full)
        return real_run_batch(batch)

    root = os.path.realpath(store.bodies.root)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(bodies_module, "fsync_dir", fsync_dir)
    store.db._run_batch = run_batch
    try:
        inbox = await (await store.mail(ACCOUNT)).mailbox("INBOX")
        bodies = [samples.message(f"f{n}", body="w" * 70 + "\r\n" * ((n % 5) * 2000))
                  for n in range(32)]
        results = await defer.gatherResults([inbox.append(b) for b in bodies])
        assert [r.uid for r in results] == list(range(1, 33))
        assert len(committed) == 32 and not violations, violations[:3]
        for res, body in zip(results, bodies):
            assert await inbox.read_body(res.uid) == body
    finally:
        await store.close()


class TestFsyncModeMail(_FsyncMode, MailConformance):
    reopen_supported = True

    @pytest.fixture
    def store_uri(self, tmp_path):
        return f"sqlite://{tmp_path / 'store'}"


_flag_words = st.sampled_from(["\\Seen", "\\Deleted", "\\Flagged", "$Junk", "work"])
_rows = st.lists(
    st.tuples(
        st.lists(_flag_words, unique=True).map(" ".join),
        st.floats(min_value=0, max_value=4e9, allow_nan=False),
        st.sampled_from([0, 3600, -18000, 19800]),
        # Few distinct saved dates, so that neighbours often share one (as the messages
        # of one commit do) and often do not.
        st.sampled_from([1.5e9, 1.5e9 + 0.25, 1.7e9 + 123.456789]),
        st.integers(min_value=0, max_value=1 << 40),
        st.integers(min_value=1, max_value=1 << 62),
    ),
    max_size=40,
)


@given(_rows)
def test_message_infos_match_the_plain_construction(rows):
    rows = [(uid, *rest) for uid, rest in enumerate(rows, 1)]
    want = [
        MessageInfo(
            uid,
            frozenset(flags.split()),
            datetime.fromtimestamp(idate, timezone(timedelta(seconds=itz))),
            datetime.fromtimestamp(sdate, timezone.utc),
            size,
            modseq,
        )
        for uid, flags, idate, itz, sdate, size, modseq in rows
    ]
    got = listing.message_infos(iter(rows))
    assert got == want
    assert [i.internal_date.utcoffset() for i in got] == [
        timedelta(seconds=r[3]) for r in rows
    ]
