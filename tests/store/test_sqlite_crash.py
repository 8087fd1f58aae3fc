"""sqlite: durability and the multi-process behaviours: SIGKILL mid-stream, group commit,
change notification across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest_twisted
from twisted.internet import defer, threads

from smsync.errors import NotFound
from smsync.model import ChangeKind
from smsync.store.registry import open_store
from smsync.testing import samples
from smsync.testing.base import eventually

ACCOUNT = "dave@example.com"

#: A child process delivering messages from 8 concurrent coroutines and printing each
#: acknowledged UID (with the body's tag) as soon as its Deferred fires.
CHILD = r"""
import sys
from twisted.internet import defer, task
from smsync.store.registry import open_store
from smsync.testing import samples

async def main(reactor):
    store = await open_store(sys.argv[1], create=False)
    box = await (await store.mail(sys.argv[2])).mailbox("INBOX")
    counter = iter(range(10**9))

    async def deliver():
        for n in counter:
            res = await box.append(samples.message(f"m{n}", body=f"body {n}\r\n" * 50))
            sys.stdout.write(f"{res.uid} m{n}\n")
            sys.stdout.flush()

    await defer.gatherResults([defer.Deferred.fromCoroutine(deliver()) for _ in range(8)])

task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
"""

#: A child that appends one message and exits.
ONE_APPEND = r"""
import sys
from twisted.internet import defer, task
from smsync.store.registry import open_store
from smsync.testing import samples

async def main(reactor):
    store = await open_store(sys.argv[1], create=False)
    box = await (await store.mail(sys.argv[2])).mailbox("INBOX")
    await box.append(samples.message("from another process"))
    await store.close()

task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
"""


def _env():
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _collect_acks(child, wanted: int, timeout: float) -> dict:
    """Read ``uid tag`` lines from the child until ``wanted`` arrived, then SIGKILL it."""
    acked = {}
    deadline = time.monotonic() + timeout
    try:
        while len(acked) < wanted and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            uid, tag = line.split()
            acked[int(uid)] = tag.decode()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    return acked


@pytest_twisted.ensureDeferred
async def test_sigkill_loses_nothing_acknowledged(tmp_path):
    uri = f"sqlite://{tmp_path}"
    store = await open_store(uri)
    await store.accounts.add(ACCOUNT, "x")
    await store.close()

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, uri, ACCOUNT], stdout=subprocess.PIPE, env=_env()
    )
    # Killed while its 8 writers are mid-stream: some appends are queued, some in a batch.
    acked = await threads.deferToThread(_collect_acks, child, 150, 60)
    assert len(acked) >= 150, "the child did not deliver"

    store = await open_store(uri, create=False)
    try:
        box = await (await store.mail(ACCOUNT)).mailbox("INBOX")
        present = set(await box.uids())
        assert set(acked) <= present, f"lost {sorted(set(acked) - present)[:10]}"
        for uid, tag in acked.items():
            want = samples.message(tag, body=f"body {tag[1:]}\r\n" * 50)
            assert await box.read_body(uid) == want
        info = await box.info()
        assert info.exists == len(present) and info.uidnext > max(present)
        # The store is fully usable after the crash.
        res = await box.append(samples.message("after the crash"))
        assert res.uid == info.uidnext
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_group_commit_batches_concurrent_writes(tmp_path):
    store = await open_store(f"sqlite://{tmp_path}")
    try:
        await store.accounts.add(ACCOUNT, "x")
        box = await (await store.mail(ACCOUNT)).mailbox("INBOX")
        commits = store.db.commits
        results = await defer.gatherResults(
            [box.append(samples.message(f"g{n}")) for n in range(64)]
        )
        assert sorted(r.uid for r in results) == list(range(1, 65))
        used = store.db.commits - commits
        assert used < 64, f"{used} commits for 64 concurrent appends: no group commit"
        # One transaction = one MODSEQ per append even when they share a commit.
        assert len({r.modseq for r in results}) == 64
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_changes_of_other_processes_are_notified(tmp_path):
    uri = f"sqlite://{tmp_path}"
    store = await open_store(uri)
    try:
        await store.accounts.add(ACCOUNT, "x")
        events = []
        sub = store.notifier.subscribe(ACCOUNT, events.append)
        child = subprocess.Popen([sys.executable, "-c", ONE_APPEND, uri, ACCOUNT], env=_env())
        await eventually(lambda: child.poll() is not None, timeout=60)
        assert child.returncode == 0
        await eventually(lambda: any(e.kind == ChangeKind.MAIL for e in events), timeout=3)
        [event] = [e for e in events if e.kind == ChangeKind.MAIL]
        assert (event.account, event.name) == (ACCOUNT, "INBOX")
        box = await (await store.mail(ACCOUNT)).mailbox("INBOX")
        assert (await box.info()).highestmodseq == event.revision
        sub.cancel()
        # Polling stops once nobody listens.
        await eventually(lambda: store.notifier._loop is None, timeout=3)
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_two_handles_on_one_directory_see_each_other(tmp_path):
    uri = f"sqlite://{tmp_path}"
    first = await open_store(uri)
    await first.accounts.add(ACCOUNT, "x")
    second = await open_store(uri, create=False)
    try:
        heard = []
        second.notifier.subscribe(ACCOUNT, heard.append)
        box1 = await (await first.mail(ACCOUNT)).mailbox("INBOX")
        box2 = await (await second.mail(ACCOUNT)).mailbox("INBOX")
        res = await box1.append(samples.message("shared"))
        assert await box2.uids() == [res.uid]
        await eventually(lambda: any(e.revision == res.modseq for e in heard))
        assert [e.kind for e in heard] == [ChangeKind.MAIL], "one event per change, no echo"
    finally:
        await second.close()
        await first.close()


@pytest_twisted.ensureDeferred
async def test_a_failing_job_is_undone_alone(tmp_path):
    store = await open_store(f"sqlite://{tmp_path}")
    try:
        await store.accounts.add(ACCOUNT, "x")

        def half_done_then_fail(conn, ctx, name):
            conn.execute("INSERT INTO accounts (name) VALUES (?)", (name,))
            raise NotFound("failed after writing")

        def add_plain(conn, ctx, name):
            conn.execute("INSERT INTO accounts (name) VALUES (?)", (name,))
            return name

        for batch_size in (1, 12):
            names = [f"ok{batch_size}-{n}@example.com" for n in range(batch_size - 1)]
            bad = f"bad{batch_size}@example.com"
            # Queued back to back, so they share one transaction whenever batch_size > 1.
            ds = [store.db.write(add_plain, n) for n in names[: len(names) // 2]]
            ds.append(store.db.write(half_done_then_fail, bad))
            ds += [store.db.write(add_plain, n) for n in names[len(names) // 2 :]]
            results = await defer.DeferredList(ds, consumeErrors=True)
            failed = [r for ok, r in results if not ok]
            assert len(failed) == 1 and failed[0].check(NotFound)
            assert [r for ok, r in results if ok] == names
            listed = await store.accounts.list()
            assert bad not in listed and set(names) <= set(listed)
    finally:
        await store.close()
