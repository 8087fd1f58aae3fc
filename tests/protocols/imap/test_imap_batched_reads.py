"""FETCH and SEARCH reading message bytes in groups (``IMailbox.read_ranges``): what a
client gets must not depend on how the reads were grouped, on either store."""

from __future__ import annotations

import base64
import re

import pytest
import pytest_twisted
from imap_harness import USER, in_thread, start_server

from smsync.protocols.imap import bodyreads, session
from smsync.testing.base import sleep
from smsync.protocols.imap.commands import fetch
from smsync.testing.servers import SQLITE, serving

WORDS = ["apple", "banana", "cherry", "damson", "elder"]


def plain(i: int, size: int = 0) -> bytes:
    head = (
        f"From: Sender {i} <s{i}@example.org>\r\nTo: alice@example.org\r\n"
        f"Subject: note {i} {WORDS[i % 5]}\r\nX-Tag: tag{i % 3}\r\n"
        f"Message-ID: <m{i}@example.org>\r\n\r\n"
    ).encode()
    body = f"Body of {i}: {WORDS[(i + 1) % 5]} pie.\r\n".encode()
    return head + body + b"filler line\r\n" * max(0, (size - len(head) - len(body)) // 13)


def multipart(i: int) -> bytes:
    blob = bytes(range(i, i + 40))
    return (
        f"From: m{i}@example.org\r\nSubject: parts {i}\r\nX-Tag: tag{i % 3}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        f"Hidden word {WORDS[(i + 2) % 5]}=20here\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(blob).decode()}\r\n--b--\r\n"
    ).encode()


def messages() -> list[bytes]:
    out = []
    for i in range(24):
        out.append(multipart(i) if i % 4 == 3 else plain(i))
    # Larger than a streamed chunk: its BODY[] is streamed, its header still batched.
    out.append(plain(99, size=fetch.STREAM_CHUNK + 5000))
    return out


def header_of(msg: bytes) -> bytes:
    return msg[: msg.index(b"\r\n\r\n") + 4]


def fields(msg: bytes, *names: str) -> bytes:
    wanted = {n.lower() for n in names}
    kept = [line + b"\r\n" for line in header_of(msg)[:-4].split(b"\r\n")
            if line.split(b":")[0].decode().lower() in wanted]
    return b"".join(kept) + b"\r\n"


@pytest.fixture(params=["memory:", SQLITE])
def any_server(request):
    yield from serving(start_server(request.param))


@pytest.mark.parametrize("budget", [1 << 20, 700])
@pytest_twisted.ensureDeferred
async def test_fetch_sections_whatever_the_grouping(any_server, monkeypatch, budget):
    # A small budget makes nearly every message a read group of its own.
    monkeypatch.setattr(bodyreads, "READ_BATCH_BYTES", budget)
    server = any_server
    msgs = messages()
    inbox = await server.mailbox()
    for m in msgs:
        await inbox.append(m)

    def client():
        c = server.imapclient()
        c.select_folder("INBOX")
        uids = c.search("ALL")
        got = c.fetch(uids, ["BODY.PEEK[HEADER]", "BODY.PEEK[HEADER.FIELDS (SUBJECT X-TAG)]",
                              "BODY.PEEK[TEXT]<2.30>", "BODY.PEEK[]", "RFC822.SIZE"])
        parts = c.fetch([u for u, m in zip(uids, msgs) if b"multipart" in m],
                        ["BINARY.PEEK[2]", "BINARY.SIZE[1]", "BODY.PEEK[1.MIME]"])
        c.logout()
        return uids, got, parts

    uids, got, parts = await in_thread(client)
    assert len(uids) == len(msgs) and sorted(got) == uids
    by_uid = dict(zip(uids, msgs))
    for uid, m in by_uid.items():
        data = got[uid]
        assert data[b"BODY[]"] == m and data[b"RFC822.SIZE"] == len(m)
        assert data[b"BODY[HEADER]"] == header_of(m)
        assert data[b"BODY[HEADER.FIELDS (SUBJECT X-TAG)]"] == fields(m, "Subject", "X-Tag")
        assert data[b"BODY[TEXT]<2>"] == m[len(header_of(m)) + 2:][:30]
    assert len(parts) == sum(b"multipart" in m for m in msgs)
    for uid, data in parts.items():
        i = int(re.search(rb"Subject: parts (\d+)", by_uid[uid]).group(1))
        assert data[b"BINARY[2]"] == bytes(range(i, i + 40))
        # The CRLF before a boundary belongs to the boundary, not to the part.
        assert data[b"BINARY.SIZE[1]"] == len(f"Hidden word {WORDS[(i + 2) % 5]} here")
        assert data[b"BODY[1.MIME]"].startswith(b"Content-Type: text/plain")


@pytest.mark.parametrize("budget", [1 << 20, 300])
@pytest_twisted.ensureDeferred
async def test_search_text_keys_whatever_the_grouping(any_server, monkeypatch, budget):
    monkeypatch.setattr(bodyreads, "READ_BATCH_BYTES", budget)
    server = any_server
    msgs = messages()
    inbox = await server.mailbox()
    for m in msgs:
        await inbox.append(m, ["\\Seen"] if msgs.index(m) % 2 else [])

    def decoded_text(m: bytes) -> str:
        # What BODY searches: the decoded text parts (quoted-printable undone).
        return m.decode("latin-1").replace("=20", " ").lower()

    uids = await inbox.uids()

    def expect(pred) -> list[int]:
        return [u for i, (u, m) in enumerate(zip(uids, msgs)) if pred(i, m)]

    def client():
        c = server.imapclient()
        c.select_folder("INBOX")
        out = {
            "body": c.search(["BODY", "cherry"]),
            "text": c.search(["TEXT", "tag1"]),
            "header": c.search(["HEADER", "X-Tag", "tag2"]),
            "unseen-body": c.search(["UNSEEN", "BODY", "pie"]),
            "not-body": c.search(["NOT", "BODY", "apple"]),
            "or": c.search(["OR", "BODY", "damson", "SUBJECT", "parts"]),
        }
        c.logout()
        return out

    found = await in_thread(client)
    body_of = lambda m: decoded_text(m[len(header_of(m)):])  # noqa: E731
    assert found["body"] == expect(lambda i, m: "cherry" in body_of(m))
    assert found["text"] == expect(lambda i, m: "tag1" in decoded_text(m))
    assert found["header"] == expect(lambda i, m: b"X-Tag: tag2" in header_of(m))
    assert found["unseen-body"] == expect(lambda i, m: i % 2 == 0 and "pie" in body_of(m))
    assert found["not-body"] == expect(lambda i, m: "apple" not in body_of(m))
    assert found["or"] == expect(lambda i, m: "damson" in body_of(m) or b"Subject: parts" in m)
    assert found["body"] and found["not-body"] and found["or"]


@pytest_twisted.ensureDeferred
async def test_fetch_of_a_message_whose_body_vanished(sqlite_server):
    """A message gone from the store between listing and reading (its body file went
    with it) is left out; the others are answered and the FETCH completes with
    OK [EXPUNGEISSUED]."""
    server = sqlite_server
    inbox = await server.mailbox()
    for i in range(3):
        await inbox.append(plain(i))
    store_dir = server.store.uri.partition("://")[2]
    import os

    bodies = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(store_dir, "bodies")) for f in fs)
    os.unlink(bodies[1])

    def client():
        c = server.imaplib()
        c.select("INBOX")
        typ, data = c.fetch("1:3", "(UID BODY.PEEK[HEADER])")
        code = c.response("EXPUNGEISSUED")
        c.logout()
        return typ, data, code

    typ, data, code = await in_thread(client)
    assert typ == "OK" and code[1] != [None]
    assert [d[0].split(b" (")[0] for d in data if isinstance(d, tuple)] == [b"1", b"3"]
    typ, data = await in_thread(_fetch_ok, server)
    assert typ == "OK"


def _fetch_ok(server):
    c = server.imaplib()
    c.select("INBOX")
    result = c.fetch("1", "(UID BODY.PEEK[HEADER])")
    c.logout()
    return result


@pytest_twisted.ensureDeferred
async def test_device_noted_once_per_short_session(sqlite_server, monkeypatch):
    server = sqlite_server

    async def session_last_sync():
        def client():
            c = server.imaplib()
            c.select("INBOX")
            return c

        c = await in_thread(client)

        # The SELECT noted the device; the write may still be on its way.
        devices = []
        for _ in range(500):
            devices = await server.store.devices.list(USER)
            if devices:
                break
            await sleep(0.01)
        first = devices[0].last_sync
        await in_thread(c.logout)
        (device,) = await server.store.devices.list(USER)
        return first, device.last_sync

    first, after_logout = await session_last_sync()
    assert after_logout == first  # a short session is noted once
    monkeypatch.setattr(session, "DEVICE_REFRESH", 0.0)
    first, after_logout = await session_last_sync()
    # A long one is noted again at its end; that write follows LOGOUT's reply, so wait.
    for _ in range(500):
        if after_logout > first:
            break
        await sleep(0.01)
        (device,) = await server.store.devices.list(USER)
        after_logout = device.last_sync
    assert after_logout > first
