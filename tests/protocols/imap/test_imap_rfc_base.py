"""IMAP base-protocol behaviour checked against the text of RFC 3501 and RFC 9051: one
test per defect found, each quoting the passage it holds the server to."""

from __future__ import annotations

import re
import socket

import pytest_twisted
from imap_harness import FAST_LOGIN_FAILURES, PASSWORD, USER, RawClient, Running, in_thread

from smsync.model import FlagMode, UIDSet

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


@pytest_twisted.ensureDeferred
async def test_recent_goes_to_the_first_session_across_processes(sqlite_server):
    """RFC 3501 2.3.2: "\\Recent Message is "recently" arrived in this mailbox. This
    session is the first session to have been notified about this message; if the
    session is read-write, subsequent sessions will not see \\Recent set for this
    message." 6.3.2: "EXAMINE MUST NOT cause messages to lose the \\Recent flag."
    6.3.1: "n RECENT The number of messages with the \\Recent flag set." 6.3.10 STATUS:
    "RECENT The number of messages with the \\Recent flag set." 6.4.4 SEARCH: "NEW
    Messages that have the \\Recent flag set but not the \\Seen flag", "OLD Messages that
    do not have the \\Recent flag set", "RECENT Messages that have the \\Recent flag
    set." 6.4.7 COPY: "the Recent flag SHOULD be set, in the copy." IMAP4rev2 (RFC 9051,
    appendix E) removed the \\Recent flag and the RECENT response.

    Two servers over one SQLite store stand for two processes: a session in one must
    not be given as recent what a session in the other already was."""
    server = sqlite_server
    other = await Running.start("imap", server.store_uri, accounts=(),
                                knobs={"imap": dict(FAST_LOGIN_FAILURES)})
    try:
        await server.deliver(MSG % (1, 1), MSG % (2, 2))
        mail = await server.store.mail(USER)
        await mail.create_mailbox("Kept")

        def client():
            a = server.raw()
            _login(a)
            assert b"* STATUS INBOX (RECENT 2)" in a.command(b"s1", b"STATUS INBOX (RECENT)")
            lines = a.command(b"e", b"EXAMINE INBOX")
            assert b"* 2 RECENT" in lines
            assert all(b"\\Recent" in l for l in _fetches(a.command(b"f1", b"FETCH 1:2 (FLAGS)")))
            assert _search(a.command(b"r1", b"SEARCH RECENT")) == [1, 2]
            a.command(b"c", b"CLOSE")

            # The other process: EXAMINE left them recent, this SELECT takes them.
            b = other.raw()
            _login(b)
            assert b"* 2 RECENT" in b.command(b"s", b"SELECT INBOX")
            b.command(b"st", b"STORE 1 +FLAGS.SILENT (\\Seen)")
            assert _search(b.command(b"n", b"SEARCH NEW")) == [2]
            assert _search(b.command(b"o", b"SEARCH OLD")) == []
            line = _fetches(b.command(b"f", b"FETCH 1 (FLAGS)"))[0]
            assert b"\\Recent" in line and b"\\Seen" in line

            # Back in the first process, nothing is recent any more.
            assert b"* 0 RECENT" in a.command(b"s2", b"SELECT INBOX")
            assert not any(b"\\Recent" in l for l in _fetches(a.command(b"f2", b"FETCH 1:2 (FLAGS)")))
            assert _search(a.command(b"o2", b"SEARCH OLD")) == [1, 2]
            assert _search(a.command(b"r2", b"SEARCH RECENT")) == []
            assert b"* STATUS INBOX (RECENT 0)" in a.command(b"s3", b"STATUS INBOX (RECENT)")

            # A copy is a new message: recent for whoever looks first.
            a.command(b"cp", b"COPY 1 Kept")
            assert b"* STATUS Kept (RECENT 1)" in a.command(b"s4", b"STATUS Kept (RECENT)")
            lines = a.command(b"cp2", b"COPY 2 INBOX")
            assert b"* 3 EXISTS" in lines and b"* 1 RECENT" in lines
            assert _search(a.command(b"r3", b"SEARCH RECENT")) == [3]
            assert b"\\Recent" in _fetches(a.command(b"f3", b"FETCH 3 (FLAGS)"))[0]

            # IMAP4rev2 has no \Recent; such a session does not take it from others.
            c = server.raw()
            _login(c)
            c.command(b"en", b"ENABLE IMAP4rev2")
            a.command(b"u", b"UNSELECT")
            return a, b, c

        a, b, c = await in_thread(client)
        await server.deliver(MSG % (4, 4))

        def rev2():
            lines = c.command(b"s", b"SELECT INBOX")
            assert not any(b"RECENT" in l for l in lines)
            assert not any(b"\\Recent" in l for l in _fetches(c.command(b"f", b"FETCH 1:* (FLAGS)")))
            assert b"* 1 RECENT" in a.command(b"s5", b"SELECT INBOX")
            # b had INBOX selected all along but was told of the new ones after a: its
            # recent messages are still the two it was first to see.
            lines = b.command(b"n", b"NOOP")
            assert b"* 4 EXISTS" in lines and b"* 2 RECENT" in lines
            for raw in (a, b, c):
                raw.close()

        await in_thread(rev2)
    finally:
        await other.stop()


@pytest_twisted.ensureDeferred
async def test_new_keyword_announced_by_flags_before_fetch_carries_it(server):
    """RFC 3501 7.2.6 (RFC 9051 7.3.5), FLAGS response: "The flag parenthesized list
    identifies the flags (at a minimum, the system-defined flags) that are applicable
    for this mailbox. [...] The update from the FLAGS response MUST be recorded by the
    client." A keyword a FETCH response carries must be among them: announced by an
    untagged FLAGS (and, read-write, OK [PERMANENTFLAGS]) first."""
    await server.deliver(MSG % (1, 1))

    def client():
        raw = server.raw()
        _login(raw)
        raw.command(b"s", b"SELECT INBOX")
        lines = raw.command(b"st", b"STORE 1 +FLAGS ($Label1)")
        flags = [i for i, l in enumerate(lines) if l.startswith(b"* FLAGS (") and b"$Label1" in l]
        perm = [i for i, l in enumerate(lines) if l.startswith(b"* OK [PERMANENTFLAGS (") and b"$Label1" in l]
        fetch = [i for i, l in enumerate(lines) if b"FETCH" in l and b"$Label1" in l]
        assert flags and perm and fetch and flags[0] < fetch[0] and perm[0] < fetch[0]
        assert b"\\*" in lines[perm[0]]
        # APPEND's keyword: announced by the time a FETCH response carries it.
        lines = _append(raw, b"a", b"INBOX", MSG % (2, 2), flags=b"($Label2) ")
        lines += raw.command(b"f", b"FETCH 2 (FLAGS)")
        flags = [i for i, l in enumerate(lines) if l.startswith(b"* FLAGS (") and b"$Label2" in l]
        fetch = [i for i, l in enumerate(lines) if b"FETCH" in l and b"$Label2" in l]
        assert flags and fetch and flags[0] < fetch[0]
        assert b"$Label1" in lines[flags[0]]
        # Already announced: no second FLAGS.
        assert not any(l.startswith(b"* FLAGS") for l in raw.command(b"f2", b"FETCH 1:2 (FLAGS)"))
        # Another session's keyword, reported unasked: announced first too.
        other = server.raw()
        _login(other)
        other.command(b"s", b"SELECT INBOX")
        other.command(b"st", b"STORE 1 +FLAGS.SILENT ($Label3)")
        other.close()
        lines = raw.command(b"n", b"NOOP")
        flags = [i for i, l in enumerate(lines) if l.startswith(b"* FLAGS (") and b"$Label3" in l]
        fetch = [i for i, l in enumerate(lines) if b"FETCH" in l and b"$Label3" in l]
        assert flags and fetch and flags[0] < fetch[0]
        raw.close()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_atom_starting_with_tilde_is_an_atom(server):
    """RFC 3501 9 (RFC 9051 9), formal syntax: ``ATOM-CHAR = <any CHAR except
    atom-specials>`` and "~" is no atom-special; RFC 3516 (RFC 9051): ``literal8 = "~{"
    number ["+"] "}" CRLF *OCTET``: only "~{" starts a binary literal."""

    def client():
        raw = server.raw()
        _login(raw)
        assert raw.command(b"c", b"CREATE ~foo")[-1].startswith(b"c OK")
        lines = raw.command(b"l", b'LIST "" ~foo')
        assert lines[-1].startswith(b"l OK")
        assert any(l.startswith(b"* LIST (") and l.endswith(b' "/" ~foo') for l in lines)
        assert raw.command(b"n", b"NOOP")[-1].startswith(b"n OK")
        raw.close()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_lsub_lists_only_subscribed_names_and_noselect_parents(server):
    """RFC 3501 6.3.9, LSUB: "The LSUB command returns a subset of names from the set of
    names that the user has declared as being "active" or "subscribed"." [...] "If
    "foo/bar" is subscribed but "foo" is not, a "%" wildcard to LSUB must return foo,
    not foo/bar, with the \\Noselect attribute." """

    def client():
        raw = server.raw()
        _login(raw)
        for name in (b"foo/bar", b"lone", b"seen/x/y"):
            assert raw.command(b"c", b"CREATE " + name)[-1].startswith(b"c OK")
        raw.command(b"s", b"SUBSCRIBE foo/bar")
        raw.command(b"s", b"SUBSCRIBE seen/x/y")
        lines = [l for l in raw.command(b"l", b'LSUB "" %') if l.startswith(b"* LSUB")]
        assert b'* LSUB (\\Noselect) "/" foo' in lines
        assert b'* LSUB (\\Noselect) "/" seen' in lines
        assert not any(l.endswith(b" lone") or l.endswith(b"/bar") for l in lines)
        lines = [l for l in raw.command(b"m", b'LSUB "" *') if l.startswith(b"* LSUB")]
        mine = [l for l in lines if l.split(b" ")[-1].split(b"/")[0] in (b"foo", b"lone", b"seen")]
        assert mine == [b'* LSUB () "/" foo/bar', b'* LSUB () "/" seen/x/y']
        raw.close()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_search_addresses_without_comments_and_sent_dates_only_from_date(server):
    """RFC 3501 6.4.4 (RFC 9051 6.4.4), SEARCH: "FROM <string> Messages that contain the
    specified string in the envelope structure's FROM field" (likewise TO, CC): the
    envelope's addresses, where RFC 5322 comments are no part of an address.
    "SENTSINCE <date> Messages whose [RFC-2822] Date: header (disregarding time and
    timezone) is within or later than the specified date" (SENTBEFORE, SENTON alike): a
    message without a Date: header has no such date and matches none of them."""
    await server.deliver(
        b"From: Alice <alice(work)@example.org>\r\nTo: bob@(home)example.net\r\n"
        b"Cc: \"Carol\" <carol@example.com (old address)>\r\n"
        b"Date: Mon, 3 Jan 2022 10:00:00 +0000\r\nSubject: one\r\n\r\nx\r\n",
        b"From: dave@example.org\r\nSubject: no date\r\n\r\nx\r\n",
    )

    def client():
        raw = server.raw()
        _login(raw)
        raw.command(b"s", b"SELECT INBOX")
        assert _search(raw.command(b"a", b'SEARCH FROM "alice@example.org"')) == [1]
        assert _search(raw.command(b"b", b'SEARCH TO "bob@example.net"')) == [1]
        assert _search(raw.command(b"c", b'SEARCH CC "carol@example.com"')) == [1]
        assert _search(raw.command(b"d", b'SEARCH FROM "work"')) == []
        assert _search(raw.command(b"e", b"SEARCH SENTSINCE 1-Jan-2022")) == [1]
        assert _search(raw.command(b"f", b"SEARCH SENTBEFORE 1-Jan-2100")) == [1]
        # The internal date of the second message is today.
        today = raw.command(b"g", b"FETCH 2 (INTERNALDATE)")[0].split(b'"')[1].split(b" ")[0]
        assert _search(raw.command(b"h", b"SEARCH SENTON " + today)) == []
        assert _search(raw.command(b"i", b"SEARCH SINCE " + today)) == [1, 2]
        raw.close()

    await in_thread(client)


class _SlowReader(RawClient):
    """A raw client with a small receive buffer: what the server writes backs up in its
    own buffers after a little, until the client reads."""

    def __init__(self, host: str, port: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(20)
        self.sock.connect((host, port))
        self.buf = b""
        self.greeting = self.line()


@pytest_twisted.ensureDeferred
async def test_fetch_of_messages_expunged_meanwhile_answers_the_rest_with_ok(server):
    """RFC 2180 4.1.3 (IMAP4 multi-accessed mailbox practice), for a FETCH naming messages
    another session expunged: the server may "return the usual FETCH responses for the
    non-expunged messages" and complete with OK. RFC 5530's EXPUNGEISSUED ("Someone
    else has issued an EXPUNGE for the same mailbox") says so without failing what is
    still there (Dovecot: "OK [EXPUNGEISSUED] Some messages were already expunged.").

    The expunge lands while the FETCH is under way: after its first responses, while
    the client is slow to read them."""
    body = b"Subject: big\r\n\r\n" + b"x" * (250 * 1024 - 20)
    uids = await server.deliver(*[body] * 80)

    def select():
        raw = _SlowReader(server.host, server.portno)
        _login(raw)
        raw.command(b"s", b"SELECT INBOX")
        raw.send(b"f FETCH 1:* (UID BODY.PEEK[])\r\n")
        assert raw.line().startswith(b"* 1 FETCH (UID 1 BODY[] {")
        return raw

    raw = await in_thread(select)
    box = await server.mailbox()
    await box.store_flags(UIDSet.of([uids[-1]]), FlagMode.ADD, ("\\Deleted",))
    assert await box.expunge() == [uids[-1]]

    def rest():
        lines = raw.until(b"f")
        assert lines[-1].startswith(b"f OK")
        got = [l for l in lines if b" FETCH (UID " in l]
        assert len(got) == 78 and got[-1].startswith(b"* 79 FETCH (UID 79 ")
        assert b"* 80 EXPUNGE" in raw.command(b"n", b"NOOP")
        raw.close()

    await in_thread(rest)
