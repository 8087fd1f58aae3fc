"""The ``sqlite:`` doorbell (``smsync.store.sqlite.doorbell``): two opened stores on one
directory (two origins, as two processes are) -- a commit in one wakes the other's
subscribers at once, through real Unix sockets; sockets of dead processes are removed;
a store deep in the file system still has a doorbell; without one, polling still works.
(Across real processes: tests/cli/test_serve_workers.py.)"""

from __future__ import annotations

import os
import socket
import time

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from smsync.store.registry import open_store
from smsync.store.sqlite import watch
from smsync.store.sqlite.doorbell import MAX_PATH

USER = "alice@example.org"


async def _pair(directory):
    a = await open_store(f"sqlite://{directory}")
    b = await open_store(f"sqlite://{directory}")
    await a.accounts.add(USER, "x")
    return a, b


async def _latencies(a, b, rounds: int = 10) -> list[float]:
    """Seconds from an append's commit in ``a`` to ``b``'s subscriber hearing of it."""
    heard = []
    sub = b.notifier.subscribe(USER, lambda event: heard.append(time.monotonic()))
    inbox = await (await a.mail(USER)).mailbox("INBOX")
    await deferLater(reactor, 0.2, lambda: None)  # b finds its place in the feed
    out = []
    try:
        for n in range(rounds):
            before = len(heard)
            await inbox.append(f"Subject: {n}\r\n\r\nbody\r\n".encode())
            committed = time.monotonic()
            deadline = committed + 5
            while len(heard) == before and time.monotonic() < deadline:
                await deferLater(reactor, 0.001, lambda: None)
            assert len(heard) > before, "never heard of the change"
            out.append(max(0.0, heard[before] - committed))
    finally:
        sub.cancel()
    return out


@pytest_twisted.ensureDeferred
async def test_a_commit_rings_the_other_store_at_once(tmp_path):
    a, b = await _pair(tmp_path / "store")
    try:
        latencies = await _latencies(a, b)
        assert b.notifier.listening
        assert a.db.doorbell.rung >= len(latencies)
        # The safety poll runs once a second: only the doorbell can be this quick.
        assert sorted(latencies)[len(latencies) // 2] < 0.05, latencies
    finally:
        await a.close()
        await b.close()
    # Closing removed b's socket.
    assert os.listdir(tmp_path / "store" / "smsync.sqlite3.notify") == []


@pytest_twisted.ensureDeferred
async def test_sockets_of_dead_processes_are_removed(tmp_path):
    a, b = await _pair(tmp_path / "store")
    try:
        notify = tmp_path / "store" / "smsync.sqlite3.notify"
        notify.mkdir(exist_ok=True)
        # A process that died bound this and never removed it.
        dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        dead.bind(str(notify / "999999-dead.sock"))
        dead.close()
        latencies = await _latencies(a, b, rounds=2)
        assert not (notify / "999999-dead.sock").exists()
        assert len(os.listdir(notify)) == 1  # b's own
        assert max(latencies) < 0.5
    finally:
        await a.close()
        await b.close()


@pytest_twisted.ensureDeferred
async def test_a_store_deep_in_the_file_system_has_a_doorbell(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "store"
    assert len(str(deep / "smsync.sqlite3.notify" / "12345-0123456789ab.sock")) > MAX_PATH
    a, b = await _pair(deep)
    try:
        latencies = await _latencies(a, b, rounds=3)
        assert b.notifier.listening
        assert sorted(latencies)[1] < 0.05, latencies
    finally:
        await a.close()
        await b.close()


@pytest_twisted.ensureDeferred
async def test_without_a_doorbell_changes_are_still_polled_for(tmp_path):
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    # Something that is not a directory where the doorbell's would be.
    (store_dir / "smsync.sqlite3.notify").write_text("")
    a, b = await _pair(store_dir)
    try:
        latencies = await _latencies(a, b, rounds=3)
        assert not b.notifier.listening
        assert max(latencies) < 2 * watch.POLL_INTERVAL + 0.5, latencies
    finally:
        await a.close()
        await b.close()
