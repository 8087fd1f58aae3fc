"""SAVEDATE (RFC 8514) and PREVIEW (RFC 8970) on a real server over a raw socket.

SAVEDATE is the date a message was saved into its mailbox -- by APPEND, delivery,
COPY or MOVE -- which the INTERNALDATE is not (APPEND may give an old one, COPY keeps
it). PREVIEW is a short plain-text preview of the message's text.
"""

from __future__ import annotations

import base64
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
import pytest_twisted
from imap_harness import in_thread, start_server
from imap_wire import fetch_items, lit, login, send, tagged

from smsync.formats import bodytext
from smsync.formats.message import parse_message
from smsync.protocols.imap.parser import ParseError, parse_command
from smsync.testing.servers import SQLITE, serving


@pytest.fixture(params=["memory:", SQLITE])
def any_server(request):
    yield from serving(start_server(request.param))


def _date(value: bytes) -> datetime:
    return datetime.strptime(value.strip(b'"').decode(), "%d-%b-%Y %H:%M:%S %z")


def _day(when: datetime) -> bytes:
    return when.strftime("%d-%b-%Y").encode()


def _searched(answer: bytes) -> list[int]:
    m = re.search(rb"^\* SEARCH((?: \d+)*)\r\n", answer, re.M)
    assert m, answer
    return [int(n) for n in m.group(1).split()]


@pytest_twisted.ensureDeferred
async def test_capabilities(server):
    """RFC 8514 3 and RFC 8970 3: the server announces SAVEDATE and PREVIEW."""

    def run():
        raw = server.raw()
        login(raw)
        caps = send(raw, b"c", b"CAPABILITY")
        raw.close()
        return caps.split(b"\r\n")[0].split()

    caps = await in_thread(run)
    assert b"SAVEDATE" in caps and b"PREVIEW" in caps


MESSAGE = b"From: a@example.org\r\nSubject: saved\r\n\r\nbody\r\n"


@pytest_twisted.ensureDeferred
async def test_savedate_is_when_the_message_was_saved_here(any_server):
    """RFC 8514: SAVEDATE is the date and time the message was saved into the mailbox it
    is in, not its INTERNALDATE: an APPEND with an old date-time gets that INTERNALDATE
    and a SAVEDATE of now; a COPY keeps the INTERNALDATE (RFC 3501 6.4.7: "SHOULD be
    preserved") and is saved into its new mailbox when the COPY runs."""

    def run():
        raw = any_server.raw()
        login(raw)
        before = datetime.now(timezone.utc).replace(microsecond=0)
        send(raw, b"a", b'APPEND INBOX " 1-Feb-2001 10:00:00 +0100" ' + lit(MESSAGE))
        send(raw, b"s", b"SELECT INBOX")
        first = send(raw, b"f", b"FETCH 1 (INTERNALDATE SAVEDATE)")
        time.sleep(1.1)
        send(raw, b"c", b"COPY 1 Archive")
        send(raw, b"s2", b"SELECT Archive")
        copied = send(raw, b"f2", b"FETCH 1 (INTERNALDATE SAVEDATE)")
        after = datetime.now(timezone.utc) + timedelta(seconds=1)
        raw.close()
        return before, first, copied, after

    before, first, copied, after = await in_thread(run)
    internal = _date(fetch_items(first, b"INTERNALDATE")[1])
    saved = _date(fetch_items(first, b"SAVEDATE")[1])
    assert internal == datetime(2001, 2, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    assert before <= saved <= after
    assert _date(fetch_items(copied, b"INTERNALDATE")[1]) == internal
    copied_saved = _date(fetch_items(copied, b"SAVEDATE")[1])
    assert saved < copied_saved <= after


@pytest_twisted.ensureDeferred
async def test_saved_search_keys_look_at_the_save_date(any_server):
    """RFC 8514 4.3: SAVEDBEFORE, SAVEDON and SAVEDSINCE are BEFORE, ON and SINCE of the
    save date (its day); SAVEDATESUPPORTED "Matches all messages in the mailbox when the
    underlying storage of that mailbox supports the save date attribute"."""

    def run():
        raw = any_server.raw()
        login(raw)
        send(raw, b"a", b'APPEND INBOX " 1-Feb-2001 10:00:00 +0000" ' + lit(MESSAGE))
        send(raw, b"a2", b"APPEND INBOX " + lit(MESSAGE))
        send(raw, b"s", b"SELECT INBOX")
        saved = _date(fetch_items(send(raw, b"f", b"FETCH 1 (SAVEDATE)"), b"SAVEDATE")[1])
        day, next_day = _day(saved), _day(saved + timedelta(days=1))
        out = {}
        for name, key in [
            ("savedon", b"SAVEDON " + day),
            ("on", b"ON " + day),
            ("savedbefore", b"SAVEDBEFORE " + day),
            ("savedbefore_next", b"SAVEDBEFORE " + next_day),
            ("savedsince", b"SAVEDSINCE " + day),
            ("savedsince_next", b"SAVEDSINCE " + next_day),
            ("before_2001", b"BEFORE 2-Feb-2001"),
            ("supported", b"SAVEDATESUPPORTED"),
            ("not_supported", b"NOT SAVEDATESUPPORTED"),
            ("mixed", b"SAVEDON " + day + b" ON 1-Feb-2001"),
        ]:
            out[name] = _searched(send(raw, b"q", b"SEARCH " + key))
        raw.close()
        return out

    found = await in_thread(run)
    assert found["savedon"] == [1, 2]
    assert found["on"] in ([2], [])  # only the message appended without a date, if today
    assert found["savedbefore"] == []
    assert found["savedbefore_next"] == [1, 2]
    assert found["savedsince"] == [1, 2]
    assert found["savedsince_next"] == []
    assert found["before_2001"] == [1]
    assert found["supported"] == [1, 2]
    assert found["not_supported"] == []
    assert found["mixed"] == [1]


def test_saved_search_keys_parse():
    key = parse_command(b"a SEARCH SAVEDBEFORE 1-Feb-2020 SAVEDON 2-Feb-2020 SAVEDSINCE \"3-Feb-2020\"").args.key
    assert [(k.op, k.args[0].day) for k in key.args] == [("SAVEDBEFORE", 1), ("SAVEDON", 2), ("SAVEDSINCE", 3)]
    assert parse_command(b"a SEARCH SAVEDATESUPPORTED").args.key.op == "ALL"
    with pytest.raises(ParseError):
        parse_command(b"a SEARCH SAVEDON yesterday")


# -- PREVIEW ---------------------------------------------------------------------------


def _preview(answer: bytes) -> list:
    """The PREVIEW value of each FETCH of ``answer``, in order: str, or None for NIL."""
    out = []
    at = 0
    while True:
        at = answer.find(b"PREVIEW ", at)
        if at < 0:
            return out
        at += len(b"PREVIEW ")
        if answer.startswith(b"NIL", at):
            out.append(None)
        elif answer[at : at + 1] == b'"':
            m = re.compile(rb'"((?:[^"\\]|\\.)*)"').match(answer, at)
            out.append(re.sub(rb"\\(.)", rb"\1", m.group(1)).decode("utf-8"))
        else:
            m = re.compile(rb"\{(\d+)\}\r\n").match(answer, at)
            assert m, answer[at : at + 40]
            out.append(answer[m.end() : m.end() + int(m.group(1))].decode("utf-8"))


PLAIN = b"From: a@example.org\r\nSubject: p\r\n\r\n  Hello   there,\r\n\r\n\tsee you\r\n  at noon.\r\n"
HTML = (
    b"From: a@example.org\r\nSubject: h\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<html><head><style>p { color: red }</style><script>alert(1)</script></head>"
    b"<body><p>Caf&eacute; &amp; <b>cr&egrave;me</b></p><p>tomorrow</p></body></html>\r\n"
)
ALTERNATIVE = (
    b"From: a@example.org\r\nSubject: alt\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nthe plain words\r\n"
    b"--b\r\nContent-Type: text/html\r\n\r\n<p>the html words</p>\r\n--b--\r\n"
)
LATIN1 = (
    b"From: a@example.org\r\nSubject: l\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes("Grüße aus Köln".encode("latin-1")).replace(b"\n", b"\r\n")
)
LONG = b"From: a@example.org\r\nSubject: long\r\n\r\n" + b"word " * 400 + b"\r\n"
ATTACHMENT_ONLY = (
    b"From: a@example.org\r\nSubject: pdf\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
)


@pytest.mark.parametrize(
    "message, expected",
    [
        (PLAIN, "Hello there, see you at noon."),
        (HTML, "Café & crème tomorrow"),
        (ALTERNATIVE, "the plain words"),
        (LATIN1, "Grüße aus Köln"),
        (ATTACHMENT_ONLY, ""),
    ],
    ids=["plain", "html", "alternative", "latin1-base64", "no-text"],
)
@pytest_twisted.ensureDeferred
async def test_preview_is_the_start_of_the_text(server, message, expected):
    """RFC 8970: the preview is plain text made from the message's text; "" when there
    is none to make it from (NIL is only for a LAZY request the server will answer
    later). Non-ASCII text reaches a client that has not enabled UTF-8 as a literal,
    one that has as a quoted UTF-8 string."""
    await server.deliver(message)

    def run():
        raw = server.raw()
        login(raw)
        send(raw, b"s", b"SELECT INBOX")
        plain = send(raw, b"f", b"FETCH 1 (PREVIEW)")
        send(raw, b"e", b"ENABLE UTF8=ACCEPT")
        send(raw, b"s2", b"SELECT INBOX")
        utf8 = send(raw, b"f2", b"FETCH 1 (PREVIEW)")
        raw.close()
        return plain, utf8

    plain, utf8 = await in_thread(run)
    assert _preview(plain) == [expected]
    assert _preview(utf8) == [expected]
    if not expected.isascii():
        assert b"PREVIEW {" in plain
        assert b'PREVIEW "' in utf8


@pytest_twisted.ensureDeferred
async def test_preview_length_lazy_and_seen(server):
    """RFC 8970: a preview is at most 256 characters (the server SHOULD keep to 200);
    PREVIEW (LAZY) is answered the same way by a server that has the preview at hand;
    fetching a preview is no reading of the message, so \\Seen is not set (only BODY[],
    RFC822 and the like set it); an unknown modifier is a syntax error."""
    await server.deliver(LONG, PLAIN)

    def run():
        raw = server.raw()
        login(raw)
        send(raw, b"s", b"SELECT INBOX")
        both = send(raw, b"f", b"FETCH 1:2 (PREVIEW)")
        lazy = send(raw, b"l", b"FETCH 1:2 (UID PREVIEW (LAZY) FLAGS)")
        bare_lazy = send(raw, b"b", b"FETCH 2 PREVIEW (LAZY)")
        flags = send(raw, b"g", b"FETCH 1:2 (FLAGS)")
        unknown = send(raw, b"u", b"FETCH 1 (PREVIEW (EAGER))")
        raw.close()
        return both, lazy, bare_lazy, flags, unknown

    both, lazy, bare_lazy, flags, unknown = await in_thread(run)
    long_preview, plain_preview = _preview(both)
    assert 0 < len(long_preview) <= 256
    assert long_preview.startswith("word word") and "  " not in long_preview
    assert _preview(lazy) == [long_preview, plain_preview]
    assert _preview(bare_lazy) == [plain_preview]
    assert b"\\Seen" not in flags
    assert tagged(unknown, b"u").startswith(b"u BAD")


def test_preview_fetch_attribute_parses():
    """RFC 8970 7: fetch-att =/ "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"],
    preview-mod = "LAZY"; and "PREVIEW (CHANGEDSINCE n)" stays a FETCH modifier."""
    atts = parse_command(b"a FETCH 1:* (UID PREVIEW (LAZY) FLAGS)").args.atts
    assert [a.name for a in atts] == ["UID", "PREVIEW", "FLAGS"]
    assert [a.name for a in parse_command(b"a FETCH 1 (PREVIEW (lazy LAZY))").args.atts] == ["PREVIEW"]
    fetch = parse_command(b"a FETCH 1 PREVIEW (CHANGEDSINCE 7)").args
    assert [a.name for a in fetch.atts] == ["PREVIEW"] and fetch.changedsince == 7
    for bad in (b"a FETCH 1 (PREVIEW (LAZY EAGER))", b"a FETCH 1 (PREVIEW ())", b"a FETCH 1 (PREVIEW[1])"):
        with pytest.raises(ParseError):
            parse_command(bad)


def test_preview_of_a_cut_read_and_of_long_html():
    """The preview is made from the first bytes of the part only: a multi-byte character
    cut by the read is dropped, and HTML whose head is long still gives its text."""
    # Spaces up to the read's end, which then falls inside the next "é".
    length = bodytext.PREVIEW_CHARS * 16 + 1024
    text = "é".encode() + b" " * (length - 3) + "é".encode() * 100
    msg = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text
    part = bodytext.preview_part(parse_message(msg))
    assert bodytext.preview_length(part) == length
    raw = msg[part.header_end : part.header_end + length]
    assert bodytext.preview(part, raw) == "é"
    head = b"<style>" + b"x{}" * 5000 + b"</style>"
    html = b"Content-Type: text/html\r\n\r\n<html><head>" + head + b"</head><body>at last</body></html>"
    part = bodytext.preview_part(parse_message(html))
    raw = html[part.header_end : part.header_end + bodytext.preview_length(part)]
    assert bodytext.preview(part, raw) == "at last"
