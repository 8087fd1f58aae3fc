"""One relay queue, several processes (the workers of ``smsync serve --workers N``): the
ones that do not relay queue mail, the relaying one finds it and sends each message
once; its start leaves another process's half-written files alone."""

from __future__ import annotations

import os
import time

import pytest_twisted
from delivery_harness import Sink
from twisted.internet import reactor
from twisted.internet.task import deferLater

from smsync.auth import hash_password
from smsync.config import Config, DeliveryConfig
from smsync.edge.outbound import Outbound
from smsync.store.registry import open_store

USER = "alice@example.org"


async def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await deferLater(reactor, 0.05, lambda: None)


@pytest_twisted.ensureDeferred
async def test_the_relaying_worker_sends_what_another_queued_once(tmp_path):
    sink = Sink()
    port = sink.listen()
    config = Config(delivery=DeliveryConfig(
        queue_dir=str(tmp_path / "queue"), hostname="mx.test",
        smarthost=f"127.0.0.1:{port}", retry_initial=1, retry_max=1))
    store = await open_store("memory:")
    await store.accounts.add(USER, hash_password("pw"))
    # Another process's write in progress, as the relaying worker starts.
    (tmp_path / "queue" / "tmp").mkdir(parents=True)
    writing = tmp_path / "queue" / "tmp" / "abc.eml.123"
    writing.write_bytes(b"half")
    other = Outbound(store, config, relay=False, shared=True)
    relaying = Outbound(store, config, relay=True, shared=True)
    other.startService()
    relaying.startService()
    try:
        # The relaying one started its relayer by itself (a smarthost is set).
        assert relaying.relayer is not None and relaying.relayer.running
        await relaying.relayer.ready
        assert writing.exists(), "a fresh file of another process's write was removed"
        assert other.relayer is None
        submitter = other.submitter
        assert submitter.relayer is None
        qid = await submitter.submit(USER, USER, ["bob@remote.example"],
                                     b"Subject: hi\r\n\r\nfrom another worker\r\n")
        await wait_for(lambda: len(sink.received) == 1)
        await wait_for(lambda: not (tmp_path / "queue" / "msg" / f"{qid}.json").exists())
        # A few more looks at the queue must not send it again.
        await deferLater(reactor, 2.5 * relaying.relayer.scan_interval, lambda: None)
        assert len(sink.received) == 1
        (sender, recipient, text) = sink.received[0]
        assert recipient == "bob@remote.example" and b"from another worker" in text
    finally:
        await other.stopService()
        await relaying.stopService()
        await sink.stop()
        await store.close()


@pytest_twisted.ensureDeferred
async def test_a_shared_queue_removes_only_old_leftovers(tmp_path):
    from smsync.edge.outbound.queue import LEFTOVER_AGE, RelayQueue

    queue = RelayQueue(tmp_path / "q")
    queue.prepare()
    fresh = queue.tmp / "fresh"
    stale = queue.tmp / "stale"
    orphan = queue.msg / "gone.eml"
    for path in (fresh, stale, orphan):
        path.write_bytes(b"x")
    old = time.time() - LEFTOVER_AGE - 10
    os.utime(stale, (old, old))
    queue.open(shared=True)
    assert fresh.exists() and orphan.exists() and not stale.exists()
    queue.open()  # alone: every leftover goes
    assert not fresh.exists() and not orphan.exists()
