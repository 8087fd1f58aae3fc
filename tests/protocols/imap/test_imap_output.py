"""How a command's output reaches the transport: held back while the command runs and
handed over in one piece with its tagged completion, except what the client must see
before it can go on (a continuation request, "+ idling") and large answers, which are
streamed."""

from __future__ import annotations

import socket

import pytest_twisted
from imap_harness import in_thread

from smsync.model import FlagMode, UIDSet
from smsync.protocols.imap import server as imap_server
from smsync.testing.base import eventually

MSG = b"From: carol@example.org\r\nSubject: held output\r\n\r\nhello\r\n"


def _record_writes(server) -> list[bytes]:
    """The chunks the (only) server connection gives its transport from now on."""
    (conn,) = server.factory.connections
    chunks: list[bytes] = []
    real = conn.transport.write

    def write(data):
        chunks.append(bytes(data))
        real(data)

    conn.transport.write = write
    return chunks


async def _selected_raw_client(server, count: int):
    box = await server.mailbox()
    for _ in range(count):
        await box.append(MSG)

    def connect():
        raw = server.raw()
        assert raw.command(b"a", b'LOGIN alice@example.org "correct horse"')[-1].startswith(b"a OK")
        assert raw.command(b"b", b"SELECT INBOX")[-1].startswith(b"b OK")
        return raw

    raw = await in_thread(connect)
    await eventually(lambda: len(server.factory.connections) == 1)
    return raw, box


@pytest_twisted.ensureDeferred
async def test_untagged_and_tagged_answers_leave_in_one_write(sqlite_server):
    server = sqlite_server
    raw, box = await _selected_raw_client(server, 3)
    chunks = _record_writes(server)
    # A change made elsewhere: the FETCH below reports it after a second trip to the
    # store's reader threads, between its own FETCH response and its completion.
    await box.store_flags(UIDSet.of([2]), FlagMode.ADD, ["\\Flagged"])
    (conn,) = server.factory.connections
    await eventually(lambda: conn.session.selected.dirty)
    lines = await in_thread(raw.command, b"c", b"FETCH 1 (FLAGS)")
    # The session was the first to select the folder: its messages are \Recent to it.
    assert lines[0] == b"* 1 FETCH (FLAGS (\\Recent))"
    assert lines[1].startswith(b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))")
    assert lines[-1].startswith(b"c OK")
    assert chunks == [b"\r\n".join(lines) + b"\r\n"]
    raw.sock.close()


@pytest_twisted.ensureDeferred
async def test_large_answer_is_streamed_before_completion(sqlite_server):
    server = sqlite_server
    raw, box = await _selected_raw_client(server, 0)
    big = MSG + (b"y" * 78 + b"\r\n") * (3 * imap_server.HOLD_BYTES // 80)
    await box.append(big)
    await in_thread(raw.command, b"c", b"NOOP")
    chunks = _record_writes(server)

    def fetch():
        raw.send(b"d FETCH 1 BODY.PEEK[]\r\n")
        head = raw.line()
        assert head == b"* 1 FETCH (BODY[] {%d}" % len(big)
        while len(raw.buf) < len(big):
            raw.buf += raw.sock.recv(1 << 20)
        body, raw.buf = raw.buf[: len(big)], raw.buf[len(big) :]
        return body, raw.until(b"d")

    body, rest = await in_thread(fetch)
    assert body == big and rest[-1].startswith(b"d OK")
    # Handed over in pieces as it was read, not held whole until the completion.
    assert len(chunks) > 1
    raw.sock.close()


@pytest_twisted.ensureDeferred
async def test_continuations_are_not_held(sqlite_server):
    server = sqlite_server
    raw, box = await _selected_raw_client(server, 1)

    def idle_and_append():
        raw.send(b"e IDLE\r\n")
        # "+ idling" must come while the command still runs (it ends only at DONE).
        assert raw.line() == b"+ idling"
        raw.send(b"DONE\r\n")
        assert raw.until(b"e")[-1].startswith(b"e OK")
        # A synchronising literal: the server must ask for it before the client sends it.
        raw.send(b"f APPEND INBOX {%d}\r\n" % len(MSG))
        assert raw.line().startswith(b"+ ")
        raw.send(MSG + b"\r\n")
        return raw.until(b"f")

    lines = await in_thread(idle_and_append)
    assert lines[-1].startswith(b"f OK")
    assert len(await box.uids()) == 2
    raw.sock.close()


@pytest_twisted.ensureDeferred
async def test_connections_do_not_wait_for_acks(server):
    """Nagle off: an answer is never held back until the client acknowledges the
    previous one (pipelining clients would wait out their delayed-ACK timer)."""
    raw = await in_thread(server.raw)
    await eventually(lambda: len(server.factory.connections) == 1)
    (conn,) = server.factory.connections
    sock = conn.transport.getHandle()
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    raw.sock.close()
