"""IMAP base-protocol behaviour checked against the text of RFC 3501 and RFC 9051: one
test per defect found, each quoting the passage it holds the server to."""

from __future__ import annotations

import re

import pytest_twisted
from imap_harness import PASSWORD, USER, in_thread

MSG = b"From: a@example.org\r\nSubject: m%d\r\nMessage-ID: <m%d@example.org>\r\n\r\nbody\r\n"


def _login(raw):
    assert raw.command(b"L", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')[-1].startswith(b"L OK")


def _append(raw, tag: bytes, mailbox: bytes, body: bytes, flags: bytes = b"") -> list[bytes]:
    raw.send(tag + b" APPEND " + mailbox + b" " + flags + b"{%d}\r\n" % len(body))
    assert raw.line().startswith(b"+")
    raw.send(body + b"\r\n")
    return raw.until(tag)


def _fetches(lines) -> list[bytes]:
    return [l for l in lines if re.match(rb"\* \d+ FETCH ", l)]


def _search(lines) -> list[int]:
    (line,) = [l for l in lines if l.startswith(b"* SEARCH")]
    return [int(n) for n in line.split()[2:]]


@pytest_twisted.ensureDeferred
async def test_append_to_selected_mailbox_announces_exists_before_ok(sqlite_server):
    server = sqlite_server
    """RFC 3501 6.3.11 (RFC 9051 6.3.12), APPEND: "If the mailbox is currently selected,
    the normal new message actions SHOULD occur. Specifically, the server SHOULD notify
    the client immediately via an untagged EXISTS response." """
    await server.deliver(MSG % (1, 1))

    def client():
        raw = server.raw()
        _login(raw)
        raw.command(b"s", b"SELECT INBOX")
        lines = _append(raw, b"a", b"INBOX", MSG % (2, 2))
        assert lines[-1].startswith(b"a OK")
        assert b"* 2 EXISTS" in lines[:-1]
        lines = raw.command(b"f", b"UID FETCH 1:* (UID)")
        assert _fetches(lines) == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)"]
        # The same after an EXPUNGE of our own.
        raw.command(b"d", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        assert b"* 1 EXPUNGE" in raw.command(b"x", b"EXPUNGE")
        lines = _append(raw, b"b", b"INBOX", MSG % (3, 3))
        assert b"* 2 EXISTS" in lines[:-1] and lines[-1].startswith(b"b OK")
        lines = raw.command(b"g", b"UID FETCH 1:* (UID)")
        assert _fetches(lines) == [b"* 1 FETCH (UID 2)", b"* 2 FETCH (UID 3)"]
        lines = raw.command(b"t", b"THREAD REFERENCES UTF-8 ALL")
        assert b"* THREAD (1)(2)" in lines
        raw.close()

    await in_thread(client)
