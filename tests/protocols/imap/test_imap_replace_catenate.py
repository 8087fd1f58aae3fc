"""REPLACE (RFC 8508) and CATENATE (RFC 4469, with IMAP URLs of RFC 5092) on a real
server over a raw socket, and their grammar."""

from __future__ import annotations

import re

import pytest
import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st
from imap_harness import OTHER, in_thread, start_server
from imap_wire import lit, login, response, send, tagged

from smsync.protocols.imap.catenate import parse_url
from smsync.protocols.imap.parser import ParseError, parse_command
from smsync.protocols.imap.syntax import AppendMessage, CatPart, Replace, Section
from smsync.testing.servers import SQLITE, USER, serving


@pytest.fixture(params=["memory:", SQLITE])
def any_server(request):
    yield from serving(start_server(request.param))


def _message(n: int, body: bytes = b"draft") -> bytes:
    return b"From: a@example.org\r\nSubject: draft %d\r\nMessage-ID: <d%d@example.org>\r\n\r\n%s\r\n" % (n, n, body)


def _untagged(answer: bytes) -> list[bytes]:
    return [line[2:] for line in answer.split(b"\r\n") if line.startswith(b"* ")]


def _uidvalidity(raw, mailbox: bytes) -> int:
    answer = send(raw, b"v", b"STATUS " + mailbox + b" (UIDVALIDITY)")
    return int(re.search(rb"UIDVALIDITY (\d+)", answer).group(1))


# -- REPLACE ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_replace_in_the_selected_mailbox(any_server):
    """RFC 8508 3: REPLACE "appends the new message and removes the old", reporting
    both before the tagged OK as its example does: an untagged OK with APPENDUID, the
    EXISTS of the new message, the EXPUNGE of the old one. The new message has the
    flags the command gave; another session sees the old one go and the new one come."""
    await any_server.deliver(_message(1), _message(2))

    def run():
        raw, other = any_server.raw(), any_server.raw()
        login(raw)
        login(other)
        send(other, b"s", b"SELECT INBOX")
        send(raw, b"s", b"SELECT INBOX")
        replaced = send(raw, b"r", b"REPLACE 1 INBOX (\\Seen \\Draft) " + lit(_message(3)))
        after = send(raw, b"f", b"UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        seen_by_other = send(other, b"n", b"NOOP")
        raw.close()
        other.close()
        return replaced, after, seen_by_other

    replaced, after, seen_by_other = await in_thread(run)
    lines = _untagged(replaced)
    assert tagged(replaced, b"r").startswith(b"r OK")
    appended = [i for i, line in enumerate(lines) if line.startswith(b"OK [APPENDUID ")]
    exists = [i for i, line in enumerate(lines) if line == b"3 EXISTS"]
    expunge = [i for i, line in enumerate(lines) if line == b"1 EXPUNGE"]
    assert appended and exists and expunge, lines
    assert appended[0] < exists[0] < expunge[0]
    new_uid = int(re.search(rb"APPENDUID \d+ (\d+)", lines[appended[0]]).group(1))
    assert new_uid == 3
    assert re.search(rb"\* 1 FETCH \(UID 2 ", after) and re.search(rb"\* 2 FETCH \(UID 3 ", after), after
    assert b"draft 1" not in after and b"Subject: draft 3" in after
    # (\Recent too: the session that added it is the first to hear of it, RFC 3501 2.3.2.)
    assert re.search(rb"UID 3 FLAGS \(\\Draft (\\Recent )?\\Seen\)", after), after
    assert b"* 1 EXPUNGE" in seen_by_other and b"* 2 EXISTS" in seen_by_other


@pytest_twisted.ensureDeferred
async def test_uid_replace_into_another_mailbox_with_qresync(server):
    """RFC 8508: the new message may go to another mailbox than the selected one; once
    QRESYNC is on, the old one is reported with VANISHED (RFC 7162 3.2.10) and the tagged
    OK carries HIGHESTMODSEQ. ``*`` names the last message."""
    await server.deliver(_message(1), _message(2))

    def run():
        raw = server.raw()
        login(raw)
        send(raw, b"e", b"ENABLE QRESYNC")
        send(raw, b"s", b"SELECT INBOX")
        replaced = send(raw, b"r", b"UID REPLACE * Drafts " + lit(_message(3)))
        inbox = send(raw, b"f", b"UID FETCH 1:* (UID)")
        drafts = send(raw, b"d", b"STATUS Drafts (MESSAGES UIDNEXT)")
        raw.close()
        return replaced, inbox, drafts

    replaced, inbox, drafts = await in_thread(run)
    lines = _untagged(replaced)
    assert b"VANISHED 2" in lines, lines
    assert not any(line.endswith(b"EXISTS") or line.endswith(b"EXPUNGE") for line in lines), lines
    assert any(line.startswith(b"OK [APPENDUID ") and line.split()[3] == b"1]" for line in lines), lines
    assert re.match(rb"r OK \[HIGHESTMODSEQ \d+\]", tagged(replaced, b"r"))
    assert re.findall(rb"UID (\d+)", inbox) == [b"1"]
    assert b"MESSAGES 1" in drafts


@pytest_twisted.ensureDeferred
async def test_replace_that_cannot_happen_changes_nothing(server):
    """RFC 8508: a REPLACE that fails leaves the old message where it was and adds none:
    to a mailbox that does not exist (NO [TRYCREATE], as APPEND answers), of a message
    that does not exist, in a mailbox opened read-only, or of a new message larger than
    APPENDLIMIT (NO [TOOBIG])."""
    await server.deliver(_message(1))
    server.factory.config.append_limit = 2000

    def run():
        raw = server.raw()
        login(raw)
        send(raw, b"s", b"SELECT INBOX")
        answers = [
            send(raw, b"a", b"REPLACE 1 Nowhere " + lit(_message(2))),
            send(raw, b"b", b"UID REPLACE 7 INBOX " + lit(_message(2))),
            send(raw, b"c", b"REPLACE 2 INBOX " + lit(_message(2))),
            send(raw, b"d", b"REPLACE 1 INBOX " + lit(_message(2, b"x" * 3000))),
        ]
        send(raw, b"x", b"EXAMINE INBOX")
        answers.append(send(raw, b"e", b"REPLACE 1 Drafts " + lit(_message(2))))
        left = send(raw, b"f", b"UID FETCH 1:* (UID)")
        drafts = send(raw, b"g", b"STATUS Drafts (MESSAGES)")
        raw.close()
        return answers, left, drafts

    answers, left, drafts = await in_thread(run)
    codes = [tagged(a, t) for a, t in zip(answers, [b"a", b"b", b"c", b"d", b"e"])]
    assert codes[0].startswith(b"a NO [TRYCREATE]")
    assert codes[1].startswith(b"b NO") and codes[2].startswith(b"c NO")
    assert codes[3].startswith(b"d NO [TOOBIG]")
    assert codes[4].startswith(b"e NO")
    assert not any(b"EXPUNGE" in a or b"APPENDUID" in a for a in answers)
    assert re.findall(rb"UID (\d+)", left) == [b"1"]
    assert b"MESSAGES 0" in drafts


@pytest_twisted.ensureDeferred
async def test_replace_takes_a_message_as_large_as_append_does(server):
    """The replacing message is an APPEND's: up to APPENDLIMIT (RFC 7889), not only the
    megabyte other commands' literals may have."""
    await server.deliver(_message(1))
    big = _message(2, b"y" * (1536 * 1024))

    def run():
        raw = server.raw()
        login(raw)
        send(raw, b"s", b"SELECT INBOX")
        raw.send(b"r REPLACE 1 INBOX {%d}\r\n" % len(big))
        go_ahead = raw.line()
        raw.send(big + b"\r\n")
        replaced = response(raw, b"r")
        size = send(raw, b"f", b"FETCH 1 (RFC822.SIZE)")
        raw.close()
        return go_ahead, replaced, size

    go_ahead, replaced, size = await in_thread(run)
    assert go_ahead.startswith(b"+")
    assert tagged(replaced, b"r").startswith(b"r OK")
    assert b"RFC822.SIZE %d" % len(big) in size


# -- CATENATE ----------------------------------------------------------------------------

FORWARDED = (
    b"From: a@example.org\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n'
    b"--m\r\nContent-Type: text/plain\r\n\r\nsee the attachment\r\n"
    b"--m\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n"
    b"--m--\r\n"
)


@pytest_twisted.ensureDeferred
async def test_catenate_joins_text_and_parts_of_stored_messages(any_server):
    """RFC 4469 3: "The CATENATE extension ... allow[s] clients to create messages on the
    IMAP server that may contain a combination of new data along with parts of (or
    entire) messages already on the server": each TEXT part's literal and each URL
    part's message or section, in order, as its Appendix A example builds a forward."""
    uids = await any_server.deliver(FORWARDED, _message(2))

    def run():
        raw = any_server.raw()
        login(raw)
        v = _uidvalidity(raw, b"INBOX")
        base = b"/INBOX;UIDVALIDITY=%d/;UID=%d" % (v, uids[0])
        head = b"From: me@example.org\r\nSubject: Fwd\r\n"
        made = send(
            raw, b"a",
            b"APPEND Drafts (\\Draft) CATENATE (TEXT " + lit(head)
            + b' URL "' + base + b'/;SECTION=HEADER.FIELDS%20(MIME-VERSION%20CONTENT-TYPE)"'
            + b' URL "' + base + b'/;SECTION=TEXT"'
            + b' URL "imap://' + USER.replace("@", "%40").encode() + b"@127.0.0.1/INBOX/;UID=%d/;PARTIAL=0.4\"" % uids[1]
            + b" TEXT " + lit(b"\r\n") + b")",
        )
        send(raw, b"s", b"SELECT Drafts")
        body = send(raw, b"f", b"FETCH 1 (BODY.PEEK[] FLAGS)")
        raw.close()
        return made, body

    made, body = await in_thread(run)
    assert re.match(rb"a OK \[APPENDUID \d+ 1\]", tagged(made, b"a")), made
    text_start = FORWARDED.index(b"\r\n\r\n") + 4
    expected = (
        b"From: me@example.org\r\nSubject: Fwd\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n'
        + FORWARDED[text_start:] + _message(2)[:4] + b"\r\n"
    )
    got = body[body.index(b"}\r\n") + 3 :]
    assert got.startswith(expected), got
    assert b"\\Draft" in body


@pytest_twisted.ensureDeferred
async def test_catenate_url_relative_to_the_selected_mailbox_and_multiappend(server):
    """A URL relative to the selected mailbox (RFC 5092 irelative-path, ";UID=n/;SECTION=
    1") names a message of it; CATENATE messages may be several in one MULTIAPPEND
    (RFC 4469 updates RFC 3502)."""
    await server.deliver(FORWARDED)

    def run():
        raw = server.raw()
        login(raw)
        send(raw, b"s", b"SELECT INBOX")
        made = send(
            raw, b"a",
            b'APPEND Drafts CATENATE (TEXT ' + lit(b"Subject: one\r\n\r\n") + b' URL ";UID=1/;SECTION=1")'
            + b' CATENATE (URL "INBOX/;UID=1/;SECTION=1.MIME" TEXT ' + lit(b"two") + b")",
        )
        send(raw, b"s2", b"SELECT Drafts")
        bodies = send(raw, b"f", b"FETCH 1:2 (BODY.PEEK[])")
        raw.close()
        return made, bodies

    made, bodies = await in_thread(run)
    assert re.match(rb"a OK \[APPENDUID \d+ 1:2\]", tagged(made, b"a")), made
    assert b"Subject: one\r\n\r\nsee the attachment" in bodies
    assert b"Content-Type: text/plain\r\n\r\ntwo" in bodies


@pytest_twisted.ensureDeferred
async def test_catenate_bad_urls_and_too_big(server):
    """RFC 4469 3/5: a URL that names no message the user can read -- a wrong
    UIDVALIDITY, a UID or section that does not exist, a mailbox that does not exist,
    another user, another server, no URL at all -- fails the APPEND with NO [BADURL url];
    a message that would be larger than the server takes fails with NO [TOOBIG]. Nothing
    is appended either way."""
    await server.deliver(_message(1))
    server.factory.config.append_limit = 3000
    await server.deliver(_message(9), user=OTHER)

    def run():
        raw = server.raw()
        login(raw)
        v = _uidvalidity(raw, b"INBOX")
        urls = [
            b"/INBOX;UIDVALIDITY=%d/;UID=1" % (v + 1),
            b"/INBOX/;UID=2",
            b"/INBOX/;UID=1/;SECTION=4",
            b"/NoSuchBox/;UID=1",
            b"imap://" + OTHER.replace("@", "%40").encode() + b"@127.0.0.1/INBOX/;UID=1",
            b"imap://mail.elsewhere.example/INBOX/;UID=1",
            b"/INBOX/;UID=1/;URLAUTH=anonymous",
            b";UID=1",  # relative to a selected mailbox, and none is
            b"no url",
        ]
        answers = [send(raw, b"u", b'APPEND Drafts CATENATE (TEXT {1+}\r\nx URL "' + u + b'")') for u in urls]
        big = send(raw, b"t", b'APPEND Drafts CATENATE (URL "/INBOX/;UID=1" TEXT ' + lit(b"y" * 2990) + b")")
        drafts = send(raw, b"d", b"STATUS Drafts (MESSAGES)")
        raw.close()
        return urls, answers, big, drafts

    urls, answers, big, drafts = await in_thread(run)
    for url, answer in zip(urls, answers):
        line = tagged(answer, b"u")
        assert line.startswith(b"u NO [BADURL " + url + b"]"), (url, line)
    assert tagged(big, b"t").startswith(b"t NO [TOOBIG]")
    assert b"MESSAGES 0" in drafts


@pytest_twisted.ensureDeferred
async def test_replace_with_catenate(server):
    """RFC 8508 takes the APPEND's message forms, CATENATE among them: a draft saved
    again from the old one's header and a new text."""
    uid = (await server.deliver(_message(1)))[0]

    def run():
        raw = server.raw()
        login(raw)
        send(raw, b"s", b"SELECT INBOX")
        replaced = send(
            raw, b"r",
            b'UID REPLACE %d INBOX CATENATE (URL ";UID=%d/;SECTION=HEADER" TEXT ' % (uid, uid) + lit(b"edited\r\n") + b")",
        )
        body = send(raw, b"f", b"FETCH 1 (BODY.PEEK[])")
        raw.close()
        return replaced, body

    replaced, body = await in_thread(run)
    assert tagged(replaced, b"r").startswith(b"r OK")
    header = _message(1)[: _message(1).index(b"\r\n\r\n") + 4]
    assert header + b"edited\r\n" in body


# -- grammar -------------------------------------------------------------------------------


def test_catenate_and_replace_parse():
    cmd = parse_command(
        b'a APPEND Drafts (\\Seen) " 7-Jul-2020 10:00:00 +0200" CATENATE (URL "/INBOX/;UID=3" TEXT {2}\r\nhi'
        b" UTF8 (~{2}\r\n\x00\x01) URL plain) {1}\r\nx"
    )
    first, second = cmd.args.messages
    assert first.flags == ("\\Seen",) and first.data == b""
    assert first.parts == (CatPart("URL", b"/INBOX/;UID=3"), CatPart("TEXT", b"hi"),
                           CatPart("TEXT", b"\x00\x01"), CatPart("URL", b"plain"))
    assert second == AppendMessage(b"x")
    replace = parse_command(b"a UID REPLACE * Drafts (\\Draft) {3+}\r\nabc")
    assert replace.uid and replace.args == Replace(None, b"Drafts", AppendMessage(b"abc", ("\\Draft",)))
    assert parse_command(b"a REPLACE 4 INBOX CATENATE (TEXT {1}\r\nz)").args.message.parts == (CatPart("TEXT", b"z"),)
    for bad in (
        b"a APPEND Drafts CATENATE ()",
        b"a APPEND Drafts CATENATE (TEXT x)",
        b"a APPEND Drafts CATENATE (JUNK {1}\r\nx)",
        b"a APPEND Drafts CATENATE (URL)",
        b"a REPLACE 0 INBOX {1}\r\nx",
        b"a REPLACE INBOX {1}\r\nx",
        b"a REPLACE 1 INBOX",
    ):
        with pytest.raises(ParseError):
            parse_command(bad)


_PART = st.one_of(
    st.builds(CatPart, st.just("TEXT"), st.binary(min_size=0, max_size=40).filter(lambda b: b"\x00" not in b)),
    st.builds(CatPart, st.just("URL"), st.text("abcXYZ019/;=.%-_", min_size=1, max_size=40).map(str.encode)),
)


def _wire(part: CatPart) -> bytes:
    if part.kind == "TEXT":
        return b"TEXT {%d}\r\n" % len(part.value) + part.value
    return b'URL "' + part.value + b'"'


@settings(max_examples=200, deadline=None)
@given(st.lists(_PART, min_size=1, max_size=8), st.booleans(), st.integers(1, 99))
def test_catenate_round_trip(parts, as_replace, number):
    """Any CATENATE part list, written out as the grammar says, parses back to itself."""
    data = b"CATENATE (" + b" ".join(_wire(p) for p in parts) + b")"
    if as_replace:
        got = parse_command(b"t REPLACE %d INBOX " % number + data).args
        assert got.number == number
        message = got.message
    else:
        (message,) = parse_command(b"t APPEND INBOX " + data).args.messages
    assert message.parts == tuple(parts)


def _ok(host: str) -> bool:
    return host in ("127.0.0.1", "localhost")


def test_url_forms():
    """RFC 5092's forms of a message URL: absolute (with the user, ;AUTH= and port),
    server-relative, mailbox-relative; %-encoded names and sections; UIDVALIDITY,
    SECTION and PARTIAL."""
    got = parse_url("imap://alice%40example.org;AUTH=*@127.0.0.1:1143/Lists/d%C3%A9v;UIDVALIDITY=7/;UID=9"
                    "/;SECTION=1.2.MIME/;PARTIAL=10.20", "alice@example.org", _ok)
    assert (got.mailbox, got.uidvalidity, got.uid) == ("Lists/dév", 7, 9)
    assert got.section == Section((1, 2), "MIME") and got.partial == (10, 20)
    got = parse_url("/INBOX/;UID=1/;section=HEADER.FIELDS%20(From%20To)", "alice@example.org", _ok)
    assert got.mailbox == "INBOX" and got.section == Section((), "HEADER.FIELDS", ("From", "To"))
    got = parse_url(";UID=5/;PARTIAL=3", "alice@example.org", _ok)
    assert got.mailbox is None and got.uid == 5 and got.partial == (3, None)
    for bad in ("/;UID=1", "/INBOX", "/INBOX/;SECTION=1/;UID=2", "/INBOX/;UID=0", "/INBOX/;UID=x",
                "/INBOX;UIDVALIDITY=0/;UID=1", "imap://127.0.0.1", "imap://evil.example/INBOX/;UID=1",
                "/INBOX/;UID=1/;PARTIAL=a", "/INBOX/;UID=1/;SECTION=BOGUS", "/INBOX/;UID=1/;URLAUTH=x"):
        with pytest.raises(ValueError):
            parse_url(bad, "alice@example.org", _ok)


_SECTIONS = st.sampled_from([None, Section(), Section((1,)), Section((2, 3), "MIME"), Section((), "HEADER"),
                             Section((1,), "TEXT"), Section((), "HEADER.FIELDS", ("From", "X-Y"))])


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s), st.one_of(st.none(), st.integers(1, 2**32 - 1)),
       st.integers(1, 2**32 - 1), _SECTIONS,
       st.one_of(st.none(), st.tuples(st.integers(0, 10**6), st.one_of(st.none(), st.integers(1, 10**6)))),
       st.booleans())
def test_url_round_trip(mailbox, uidvalidity, uid, section, partial, absolute):
    """Any message URL written as RFC 5092 spells it -- the name UTF-8 and %-encoded,
    the section %-encoded -- is read back as what it names."""
    from urllib.parse import quote

    url = quote(mailbox.encode("utf-8", "surrogatepass"), safe="")
    if uidvalidity is not None:
        url += ";UIDVALIDITY=%d" % uidvalidity
    url += "/;UID=%d" % uid
    if section is not None:
        url += "/;SECTION=" + quote(section.spec(), safe="")
    if partial is not None:
        url += "/;PARTIAL=%d" % partial[0] + ("" if partial[1] is None else ".%d" % partial[1])
    url = ("imap://127.0.0.1/" if absolute else "/") + url
    try:
        got = parse_url(url, "alice@example.org", _ok)
    except ValueError:
        # Only a name that is no UTF-8 (a lone surrogate) may be refused.
        assert not _is_utf8(mailbox)
        return
    assert (got.mailbox, got.uidvalidity, got.uid) == (mailbox, uidvalidity, uid)
    assert got.section == section and got.partial == partial


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
