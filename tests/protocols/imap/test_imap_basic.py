"""The IMAP4rev1 spine, driven by stdlib imaplib against a real server."""

from __future__ import annotations

import imaplib
import re

import pytest
import pytest_twisted

from smsync.model import FlagMode, UIDSet

from imap_harness import PASSWORD, USER, in_thread

SIMPLE = (
    b"From: Bob Sender <bob@example.org>\r\n"
    b"To: Alice <alice@example.org>, carol@example.org\r\n"
    b"Subject: Lunch on Friday\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0100\r\n"
    b"Message-ID: <lunch@example.org>\r\n"
    b"\r\n"
    b"Shall we meet at noon?\r\n"
)

NESTED = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: =?iso-8859-1?q?R=E9sum=E9?= attached\r\n"
    b"Date: Tue, 02 Jan 2024 09:00:00 +0000\r\n"
    b"Message-ID: <nested@example.de>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="inner"\r\n'
    b"\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Gr=C3=BC=C3=9Fe aus Berlin\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p>Gruesse</p>\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: inner@example.com\r\n"
    b"Subject: forwarded\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--outer\r\n"
    b"Content-Type: application/octet-stream; name=\"blob.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.bin\r\n"
    b"\r\n"
    b"AAECAwQ=\r\n"
    b"--outer--\r\n"
)


def _flat(data) -> bytes:
    """One FETCH answer as bytes, literals inlined."""
    out = b""
    for item in data:
        out += b"".join(item) if isinstance(item, tuple) else item
    return out


def _ok(result):
    typ, data = result
    assert typ == "OK", data
    return data


@pytest_twisted.ensureDeferred
async def test_capability_login_and_bad_password(server):
    def client():
        c = server.imaplib(login=False)
        assert "IDLE" in c.capabilities and "AUTH=PLAIN" in c.capabilities
        with pytest.raises(imaplib.IMAP4.error):
            c.login(USER, "wrong")
        _ok(c.login(USER, PASSWORD))
        typ, data = c.capability()
        assert b"CONDSTORE" in data[0] and b"MOVE" in data[0]
        c.logout()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_list_select_append_fetch(server):
    def client():
        c = server.imaplib()
        lines = _ok(c.list())
        names = {re.search(rb'"/" (.*)$', l).group(1).strip(b'"') for l in lines}
        assert {b"INBOX", b"Sent", b"Drafts", b"Trash", b"Junk", b"Archive"} <= names
        assert any(b"\\Sent" in l for l in lines)
        data = _ok(c.append("INBOX", r"(\Flagged)", imaplib.Time2Internaldate(1700000000), SIMPLE))
        assert b"APPENDUID" in data[0]
        _ok(c.append("INBOX", None, None, NESTED))
        assert _ok(c.select("INBOX")) == [b"2"]
        data = _ok(c.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"))
        head = data[0]
        assert b"\\Flagged" in head and b"RFC822.SIZE %d" % len(SIMPLE) in head
        assert b'"Lunch on Friday"' in head and b'(("Bob Sender" NIL "bob" "example.org"))' in head
        assert b"14-Nov-2023 22:13:20 +0000" in head
        data = _ok(c.fetch("1", "(BODY.PEEK[])"))
        assert data[0][1] == SIMPLE
        data = _ok(c.fetch("1", "(FLAGS)"))
        assert b"\\Seen" not in data[0]
        data = _ok(c.fetch("1", "(BODY[TEXT]<6.5>)"))
        assert data[0][1] == b"we me"
        data = _ok(c.fetch("1", "(FLAGS)"))
        assert b"\\Seen" in data[0]
        c.logout()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_mime_sections_and_bodystructure(server):
    box = await server.mailbox()
    await box.append(NESTED)

    def client():
        c = server.imaplib()
        c.select("INBOX")
        data = _flat(_ok(c.fetch("1", "(BODYSTRUCTURE)")))
        assert data.startswith(b"1 (BODYSTRUCTURE ((")
        assert b'"ALTERNATIVE"' in data and b'"MIXED"' in data
        assert b'"MESSAGE" "RFC822"' in data and b'"forwarded"' in data
        assert b'"QUOTED-PRINTABLE"' in data and b'"BASE64"' in data
        # RFC 2047 words stay encoded in ENVELOPE; RFC 2231 parameters come decoded.
        env = _ok(c.fetch("1", "(ENVELOPE)"))[0]
        assert b"=?iso-8859-1?q?R=E9sum=E9?= attached" in env
        assert b'("attachment" ("filename" {7}' + "€.bin".encode() + b"))" in data
        parts = _ok(c.fetch("1", "(BODY.PEEK[1.1] BODY.PEEK[1.2.MIME] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[3])"))
        bodies = [p[1] for p in parts if isinstance(p, tuple)]
        assert bodies[0] == b"Gr=C3=BC=C3=9Fe aus Berlin"
        assert bodies[1] == b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        assert bodies[2] == b"From: inner@example.com\r\nSubject: forwarded\r\n\r\n"
        assert bodies[3] == b"inner body"
        assert bodies[4] == b"AAECAwQ="
        hdr = _ok(c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])"))[0][1]
        assert hdr.startswith(b"From: =?utf-8?q?J=C3=BCrgen?=") and hdr.endswith(b"\r\n\r\n")
        assert b"Date:" not in hdr
        missing = _ok(c.fetch("1", "(BODY.PEEK[9])"))[0]
        assert b"NIL" in missing
        binary = _ok(c.fetch("1", "(BINARY.PEEK[3] BINARY.SIZE[1.1])"))
        assert binary[0][1] == b"\x00\x01\x02\x03\x04"
        assert b"BINARY.SIZE[1.1] %d" % len("Grüße aus Berlin".encode()) in binary[1]
        c.logout()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_store_search_copy_move_expunge(server):
    box = await server.mailbox()
    for i in range(5):
        body = SIMPLE.replace(b"Lunch on Friday", b"Item %d" % i)
        await box.append(body, flags=("\\Seen",) if i % 2 else ())

    def client():
        c = server.imaplib()
        c.select("INBOX")
        assert _ok(c.search(None, "UNSEEN")) == [b"1 3 5"]
        assert _ok(c.search(None, "SUBJECT", '"item 3"')) == [b"4"]
        assert _ok(c.search(None, "OR", "1", "5")) == [b"1 5"]
        assert _ok(c.search(None, "NOT", "SEEN", "LARGER", "10")) == [b"1 3 5"]
        assert _ok(c.search(None, "TO", "carol")) == [b"1 2 3 4 5"]
        assert _ok(c.search(None, "HEADER", "Message-ID", "lunch@")) == [b"1 2 3 4 5"]
        assert _ok(c.search(None, "BODY", "noon")) == [b"1 2 3 4 5"]
        assert _ok(c.search(None, "SENTON", "1-Jan-2024")) == [b"1 2 3 4 5"]
        assert _ok(c.search(None, "SENTBEFORE", "1-Jan-2024")) == [b""]
        assert _ok(c.uid("SEARCH", "UID", "2:3")) == [b"2 3"]
        _ok(c.store("1:2", "+FLAGS", r"(\Deleted $Work)"))
        assert _ok(c.search(None, "KEYWORD", "$work")) == [b"1 2"]
        data = _ok(c.store("3", "FLAGS.SILENT", r"(\Answered)"))
        assert data == [None]
        data = _ok(c.copy("3:4", "Archive"))
        assert b"COPYUID" in data[0]
        typ, data = c._simple_command("MOVE", "5", "Trash")
        assert typ == "OK"
        assert c.response("COPYUID")[1][-1].split()[1:] == [b"5", b"1"]
        assert c.response("EXPUNGE")[1] == [b"5"]
        typ, data = c.expunge()
        assert typ == "OK" and data == [b"2", b"1"]
        assert _ok(c.search(None, "ALL")) == [b"1 2"]
        c.logout()

    await in_thread(client)
    archive = await server.mailbox("Archive")
    assert len(await archive.uids()) == 2
    trash = await server.mailbox("Trash")
    assert len(await trash.uids()) == 1
    assert len(await box.uids()) == 2


@pytest_twisted.ensureDeferred
async def test_imap_append_visible_in_store_and_back(server):
    def append():
        c = server.imaplib()
        _ok(c.append("INBOX", r"(\Seen)", None, SIMPLE))
        c.logout()

    await in_thread(append)
    box = await server.mailbox()
    (info,) = await box.messages()
    assert info.flags == frozenset({"\\Seen"})
    assert await box.read_body(info.uid) == SIMPLE
    result = await box.append(NESTED, flags=("$Store",))

    def fetch():
        c = server.imaplib()
        c.select("INBOX", readonly=True)
        data = _ok(c.uid("FETCH", str(result.uid), "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"))
        assert b"$Store" in data[0][0]
        assert data[0][1].strip() == b"Message-ID: <nested@example.de>"
        c.logout()

    await in_thread(fetch)


@pytest_twisted.ensureDeferred
async def test_other_sessions_changes_reported(server):
    box = await server.mailbox()
    first = await box.append(SIMPLE)
    await box.append(SIMPLE)

    def client():
        c = server.imaplib()
        c.select("INBOX")
        return c

    c = await in_thread(client)
    await box.append(NESTED)
    await box.store_flags(UIDSet.of([first.uid]), FlagMode.ADD, ("\\Flagged", "\\Deleted"))
    await box.expunge()

    def noop():
        c.noop()
        assert c.untagged_responses.get("EXPUNGE") == [b"1"]
        assert c.untagged_responses.get("EXISTS")[-1] == b"2"
        c.logout()

    await in_thread(noop)


@pytest_twisted.ensureDeferred
async def test_mailbox_management(server):
    def client():
        c = server.imaplib()
        _ok(c.create("Projects/2024"))
        lines = _ok(c.list('""', "Projects*"))
        assert any(b"\\HasChildren" in l and l.endswith(b"Projects") for l in lines)
        _ok(c.rename("Projects/2024", "Projects/Old"))
        assert _ok(c.list("Projects/", "%"))[0].endswith(b"Projects/Old")
        _ok(c.unsubscribe("Projects/Old"))
        assert not any(b"Projects/Old" in l for l in _ok(c.lsub('""', "*")))
        _ok(c.delete("Projects/Old"))
        assert c.delete("Nope")[0] == "NO"
        assert c.create("INBOX")[0] == "NO"
        _ok(c.create("Caf\u00e9".encode("utf-7").replace(b"+", b"&").decode()))
        assert any(b"Caf&AOk-" in l for l in _ok(c.list()))
        c.logout()

    await in_thread(client)
    mail = await server.store.mail(USER)
    names = [e.name for e in await mail.list_mailboxes()]
    assert "Café" in names and "Projects" in names and "Projects/Old" not in names


@pytest_twisted.ensureDeferred
async def test_bad_commands_get_tagged_bad(server):
    def client():
        raw = server.raw()
        assert raw.command(b"a1", b"FROBNICATE")[-1].startswith(b"a1 BAD")
        assert raw.command(b"a2", b"FETCH 1 (FLAGS)")[-1].startswith(b"a2 BAD")
        assert raw.command(b"a3", b'LOGIN "unterminated')[-1].startswith(b"a3 BAD")
        raw.send(b"\x00\xff\xfe garbage\r\n")
        assert b"BAD" in raw.line()
        assert raw.command(b"a4", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')[-1].startswith(b"a4 OK")
        assert raw.command(b"a5", b"SELECT INBOX (BOGUS)")[-1].startswith(b"a5 BAD")
        assert raw.command(b"a6", b"SELECT INBOX")[-1].startswith(b"a6 OK")
        assert raw.command(b"a7", b"FETCH 1:* (BODY[1.MIME.TEXT])")[-1].startswith(b"a7 BAD")
        assert raw.command(b"a8", b"SEARCH CHARSET KOI8-R ALL")[-1].startswith(b"a8 NO [BADCHARSET")
        assert raw.command(b"a9", b"X" * 70000)[-1].startswith(b"a9 BAD")
        assert raw.command(b"b1", b"NOOP")[-1] == b"b1 OK NOOP completed"
        raw.close()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_large_message_streams_by_range(server):
    body = b"".join(b"%08d: some line of a large message\r\n" % i for i in range(80000))
    big = b"Subject: big\r\nMessage-ID: <big@x>\r\n\r\n" + body
    box = await server.mailbox()
    await box.append(big)

    def client():
        c = server.imaplib()
        c.select("INBOX")
        whole = _ok(c.fetch("1", "(BODY.PEEK[])"))[0][1]
        assert whole == big
        part = _ok(c.fetch("1", "(BODY.PEEK[TEXT]<1000000.600000>)"))[0][1]
        assert part == body[1000000:1600000]
        assert _ok(c.fetch("1", "(RFC822.SIZE)"))[0] == b"1 (RFC822.SIZE %d)" % len(big)
        c.logout()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_lsub_percent_shows_unsubscribed_parents_as_noselect(server):
    def client():
        c = server.imaplib()
        _ok(c.create("Work/Reports/2024"))
        _ok(c.subscribe("Work/Reports/2024"))
        for name in ("Work", "Work/Reports"):
            c.unsubscribe(name)
        top = _ok(c.lsub('""', "%"))
        middle = _ok(c.lsub('""', "Work/%"))
        everything = _ok(c.lsub('""', "*"))
        c.logout()
        return top, middle, everything

    top, middle, everything = await in_thread(client)
    # RFC 3501 6.3.9: "%" stops at the hierarchy level; the parent stands in, \Noselect.
    assert b'(\\Noselect) "/" Work' in top
    assert not any(b"Reports" in line for line in top)
    assert b'(\\Noselect) "/" Work/Reports' in middle
    # "*" reaches the subscribed folder itself: no stand-ins.
    assert any(line.endswith(b"Work/Reports/2024") and b"Noselect" not in line for line in everything)
    assert not any(b"Noselect" in line for line in everything)
