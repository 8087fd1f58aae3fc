"""Reading messages ahead of in-order RETRs: every body exact, each read once, memory
bounded, and a client that does not read cannot make the server queue its answers."""

from __future__ import annotations

import poplib
import socket

import pytest
import pytest_twisted
from pop3_harness import PASSWORD, USER, in_thread, message, start_server
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from smsync.model import UIDSet
from smsync.protocols.pop3.codec import unstuff
from smsync.protocols.pop3.maildrop import Maildrop
from smsync.protocols.pop3.prefetch import Prefetcher
from smsync.testing.servers import SQLITE, client_tls_context


def _whole(lines: list[bytes]) -> bytes:
    return b"".join(l + b"\r\n" for l in lines)


def sleep(seconds: float) -> Deferred:
    d = Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


class CountingMailbox:
    """The real mailbox, recording which bodies each read_* call asked for."""

    def __init__(self, inner):
        self._inner = inner
        self.reads: list[tuple[str, int, int, object]] = []

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if name == "read_body":
            def read_body(uid, offset=0, length=None):
                self.reads.append(("read_body", uid, offset, length))
                return attr(uid, offset, length)
            return read_body
        if name == "read_ranges":
            def read_ranges(ranges):
                self.reads.extend(("read_ranges", *r) for r in ranges)
                return attr(ranges)
            return read_ranges
        return attr


@pytest_twisted.ensureDeferred
async def test_in_order_retrieval_reads_each_small_message_once():
    running = await start_server(SQLITE, chunk_size=8 * 1024)
    try:
        # Mixed sizes: most are read ahead whole, the big ones stream in ranges.
        bodies = [message(i, 20_000 if i % 7 == 0 else 300 + 97 * i) for i in range(1, 61)]
        uids = await running.deliver(*bodies)
        c = await in_thread(running.poplib)
        session = next(iter(running.factory.connections))
        counting = session.maildrop.mailbox = CountingMailbox(session.maildrop.mailbox)
        got = []
        for i in range(1, 61):
            got.append(_whole((await in_thread(c.retr, i))[1]))
        await in_thread(c.quit)
        assert got == bodies
        small = [u for u, b in zip(uids, bodies) if len(b) <= 8 * 1024]
        whole_reads = [r[1] for r in counting.reads if r[2] == 0 and r[3] is None]
        assert sorted(whole_reads) == small
        big = {u: b for u, b in zip(uids, bodies) if len(b) > 8 * 1024}
        for uid, body in big.items():
            ranges = [r for r in counting.reads if r[1] == uid]
            assert len(ranges) == -(-len(body) // (8 * 1024))
    finally:
        await running.stop()


@pytest_twisted.ensureDeferred
async def test_window_stays_within_budget_and_skips_are_dropped(sqlite_server):
    bodies = [message(i, 10_000) for i in range(1, 41)]
    uids = await sqlite_server.deliver(*bodies)
    maildrop = await Maildrop.open(await sqlite_server.mailbox())
    window = Prefetcher(maildrop, max_message=16_000, budget=35_000, batch=8)

    assert window.take(uids[0]) is None  # nothing read ahead before the first RETR
    window.advance(1)
    assert window._bytes <= 35_000
    got = window.take(uids[1])
    assert isinstance(got, Deferred)  # still being read: the RETR waits for it
    assert (await got) == (bodies[1],)
    window.advance(2)
    # The client jumps ahead: what it passed over is dropped, the window moves on.
    assert window.take(uids[20]) is None
    window.advance(21)
    await sleep(0.2)
    assert uids[2] not in window._slots
    assert window._bytes <= 35_000
    got = window.take(uids[21])
    got = await got if isinstance(got, Deferred) else got
    assert got == (bodies[21],)
    window.close()
    assert window._bytes == 0 and not window._slots


@pytest_twisted.ensureDeferred
async def test_message_gone_before_read_ahead_answers_err(sqlite_server):
    uids = await sqlite_server.deliver(*[message(i, 2000) for i in range(1, 6)])
    inbox = await sqlite_server.mailbox()

    c = await in_thread(sqlite_server.poplib)
    await inbox.remove(UIDSet.of([uids[2]]))
    assert (await in_thread(c.retr, 1))[0].startswith(b"+OK")
    assert (await in_thread(c.retr, 2))[0].startswith(b"+OK")
    with pytest.raises(poplib.error_proto, match="SYS/PERM"):
        await in_thread(c.retr, 3)
    assert (await in_thread(c.retr, 4))[0].startswith(b"+OK")
    await in_thread(c.quit)


@pytest_twisted.ensureDeferred
async def test_client_that_does_not_read_is_not_queued_for(server):
    count, size = 300, 20_000
    bodies = [message(i, size) for i in range(1, count + 1)]
    await server.deliver(*bodies)

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(20)
    await in_thread(sock.connect, ("127.0.0.1", server.portno))
    commands = [f"USER {USER}", f"PASS {PASSWORD}"] + [f"RETR {i}" for i in range(1, count + 1)]
    await in_thread(sock.sendall, "".join(c + "\r\n" for c in commands).encode())
    session = next(iter(server.factory.connections))
    # Once the kernel's buffers are full the server pauses: the remaining RETRs wait
    # unanswered rather than piling up in the transport's buffer. (Login, an argon2
    # check, may take a while on a busy machine: wait for the queue to settle.)
    waiting, settled = -1, 0
    for _ in range(100):
        await sleep(0.2)
        now = len(session._queue)
        settled = settled + 1 if now == waiting and session.maildrop is not None else 0
        waiting = now
        if settled >= 2:
            break
    assert settled >= 2 and 0 < waiting < count

    def read_all():
        data = bytearray()
        while not data.endswith(b"\r\n.\r\n") or data.count(b"\r\n.\r\n") < count:
            chunk = sock.recv(1 << 16)
            assert chunk
            data += chunk
        return bytes(data)

    data = await in_thread(read_all)
    sock.close()
    pos = 0

    def line() -> bytes:
        nonlocal pos
        end = data.index(b"\r\n", pos)
        text, pos = data[pos:end], end + 2
        return text

    assert line().startswith(b"+OK")  # greeting
    assert line().startswith(b"+OK")  # USER
    assert line().startswith(b"+OK maildrop")
    # Every answer, in order, is its message exactly.
    for body in bodies:
        assert line() == b"+OK %d octets" % len(body)
        end = data.index(b"\r\n.\r\n", pos) + 5
        assert unstuff(data[pos:end]) == body
        pos = end


@pytest_twisted.ensureDeferred
async def test_retrieval_after_stls():
    running = await start_server(SQLITE, tls=True)
    try:
        bodies = [message(i, 4000 + 1000 * i) for i in range(1, 31)]
        await running.deliver(*bodies)

        def client():
            c = running.poplib(login=False)
            tls = client_tls_context()
            c.stls(tls)
            c.user(USER)
            c.pass_(PASSWORD)
            got = [_whole(c.retr(i)[1]) for i in range(1, 31)]
            c.quit()
            return got

        assert await in_thread(client) == bodies
    finally:
        await running.stop()
