"""Pure pieces: response encoding, modified UTF-7, sections, SORT/THREAD."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.formats.message import parse_message
from smsync.model import MessageInfo
from smsync.protocols.imap import encode, mutf7, sections, sort_thread
from smsync.protocols.imap.syntax import Section

MIXED = (
    b"From: A <a@example.org>\r\nSubject: mixed\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    b"--b1\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: inner\r\nFrom: i@example.org\r\n\r\ninner text\r\n"
    b"--b1--\r\n"
)


def test_string_quoting_and_literals():
    assert encode.string("plain") == b'"plain"'
    assert encode.string('say "hi" \\o/') == b'"say \\"hi\\" \\\\o/"'
    assert encode.string("two\r\nlines") == b"{10}\r\ntwo\r\nlines"
    assert encode.string("Grüße", utf8=False) == b"{7}\r\n" + "Grüße".encode()
    assert encode.string("Grüße", utf8=True) == b'"' + "Grüße".encode() + b'"'
    assert encode.nstring(None) == b"NIL"
    assert encode.astring("INBOX") == b"INBOX" and encode.astring("a b") == b'"a b"'
    assert encode.astring("NIL") == b'"NIL"'


def test_internal_date_and_seq_sets():
    dt = datetime(2024, 3, 5, 7, 8, 9, tzinfo=timezone(timedelta(hours=-7)))
    assert encode.internal_date(dt) == b'"05-Mar-2024 07:08:09 -0700"'
    assert encode.seq_set([5, 1, 2, 3, 9]) == b"1:3,5,9"
    assert encode.seq_set_ordered([7, 8, 3, 4]) == b"7:8,3:4"


def test_bodystructure_of_mixed_with_embedded_message():
    st_ = parse_message(MIXED)
    bs = encode.body_structure(st_.root)
    assert bs.startswith(b'(("TEXT" "PLAIN" ')
    assert b'"MESSAGE" "RFC822" NIL NIL NIL "7BIT"' in bs
    assert b'"inner"' in bs and b'"MIXED" ("boundary" "b1")' in bs
    body = encode.body_structure(st_.root, extended=False)
    assert body.endswith(b' "MIXED")')
    env = encode.envelope(st_.envelope)
    assert env.startswith(b'(NIL "mixed" (("A" NIL "a" "example.org"))')


def test_sections_locate_by_offsets():
    st_ = parse_message(MIXED)

    def get(section):
        loc = sections.locate(st_, section)
        return None if loc.missing else MIXED[loc.start : loc.end]

    assert get(Section((1,))) == b"hello"
    assert get(Section((2,), "HEADER")) == b"Subject: inner\r\nFrom: i@example.org\r\n\r\n"
    assert get(Section((2,), "TEXT")).startswith(b"inner text")
    assert get(Section((2,), "MIME")) == b"Content-Type: message/rfc822\r\n\r\n"
    assert get(Section((), "TEXT")).startswith(b"--b1")
    assert get(Section((3,))) is None
    assert get(Section((1,), "HEADER")) is None


def test_filter_header_keeps_folded_fields():
    raw = b"Received: a\r\n\tb\r\nSubject: x\r\nTo: y\r\n\r\n"
    assert sections.filter_header(raw, ("RECEIVED",), False) == b"Received: a\r\n\tb\r\n\r\n"
    assert sections.filter_header(raw, ("RECEIVED",), True) == b"Subject: x\r\nTo: y\r\n\r\n"


def test_decode_transfer():
    assert sections.decode_transfer(b"aGVs\r\nbG8=", "base64") == b"hello"
    assert sections.decode_transfer(b"caf=C3=A9=\r\n!", "quoted-printable") == "café!".encode()


@given(st.text(max_size=40))
def test_mutf7_round_trip(name):
    encoded = mutf7.encode(name)
    assert all(0x20 <= b <= 0x7E for b in encoded)
    assert mutf7.decode(encoded) == name


def test_mutf7_known_values():
    assert mutf7.encode("Entwürfe") == b"Entw&APw-rfe"
    assert mutf7.encode("A&B") == b"A&-B"
    assert mutf7.decode(b"&ZeVnLIqe-") == "日本語"


def test_base_subject():
    assert sort_thread.base_subject("Re: [list] Fwd: Hello  world (fwd)") == "HELLO WORLD"
    assert sort_thread.base_subject("[Fwd: Re: x]") == "X"
    assert sort_thread.base_subject("RE:re: fw: y") == "Y"


def _item(n, subject, msgid, refs=(), day=1):
    data = f"Subject: {subject}\r\nMessage-ID: <{msgid}>\r\nDate: {day:02d} Jan 2024 10:00:00 +0000\r\n"
    if refs:
        data += "References: " + " ".join(f"<{r}>" for r in refs) + "\r\n"
    st_ = parse_message((data + "\r\nx\r\n").encode())
    now = datetime(2024, 1, day, tzinfo=timezone.utc)
    return (n, MessageInfo(n, frozenset(), now, now, 10 * n, 1), st_)


def test_thread_references_gathers_by_subject_as_rfc5256_step5():
    fmt = lambda items: sort_thread.format_threads(sort_thread.thread_references(items))  # noqa: E731
    # Same subject, neither a reply, no references: siblings under a dummy.
    assert fmt([_item(1, "plan", "1@x", day=1), _item(2, "plan", "2@x", day=2)]) == b"((1)(2))"
    # A reply arriving before its original (no References): the original is the parent.
    assert fmt([_item(1, "Re: plan", "1@x", day=1), _item(2, "plan", "2@x", day=2)]) == b"(2 1)"
    # Two dummies (replies to two lost messages) of one subject: one set of siblings.
    lost = [
        _item(1, "Re: x", "1@x", ("lost1@x",), day=1),
        _item(2, "Re: x", "2@x", ("lost1@x",), day=3),
        _item(3, "Re: x", "3@x", ("lost2@x",), day=2),
        _item(4, "Re: x", "4@x", ("lost2@x",), day=4),
    ]
    assert fmt(lost) == b"((1)(3)(2)(4))"
    # A message joins the dummy thread of its subject as one more child.
    assert fmt(lost[:2] + [_item(5, "x", "5@x", day=5)]) == b"((1)(2)(5))"
    assert sort_thread.is_reply_or_forward("[list] Re: x") and sort_thread.is_reply_or_forward("x (fwd)")
    assert not sort_thread.is_reply_or_forward("[list] x")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "Re: a", "b", "Fwd: b", ""]),
                          st.lists(st.integers(1, 8), max_size=3), st.integers(1, 28)), max_size=8))
def test_thread_references_lists_every_message_once(specs):
    items = [
        _item(n, subject, f"{n}@x", tuple(f"{r}@x" for r in refs if r != n), day=day)
        for n, (subject, refs, day) in enumerate(specs, 1)
    ]

    def numbers(thread):
        number, kids = thread
        return ([number] if number is not None else []) + [n for k in kids for n in numbers(k)]

    listed = [n for t in sort_thread.thread_references(items) for n in numbers(t)]
    assert sorted(listed) == list(range(1, len(items) + 1))


def test_thread_references_and_ordered_subject():
    items = [
        _item(1, "a", "1@x", day=1),
        _item(2, "Re: a", "2@x", ("1@x",), day=2),
        _item(3, "b", "3@x", day=3),
        _item(4, "Re: a", "4@x", ("1@x", "2@x"), day=4),
        _item(5, "Re: a", "5@x", ("1@x",), day=5),
        _item(6, "Re: lost", "6@x", ("gone@x",), day=6),
    ]
    threads = sort_thread.thread_references(items)
    assert sort_thread.format_threads(threads) == b"(1 (2 4)(5))(3)(6)"
    ordered = sort_thread.thread_ordered_subject(items)
    assert sort_thread.format_threads(ordered) == b"(1 (2)(4)(5))(3)(6)"
    assert sort_thread.sort_messages(items, ((True, "SIZE"),)) == [6, 5, 4, 3, 2, 1]
    assert sort_thread.sort_messages(items, ((False, "SUBJECT"), (True, "DATE"))) == [5, 4, 2, 1, 3, 6]


@given(st.binary(max_size=300).filter(lambda b: b"\x00" not in b))
def test_encoded_strings_parse_back(data):
    from smsync.protocols.imap.reader import Reader

    for utf8 in (True, False):
        encoded = encode.string(data, utf8=utf8)
        r = Reader(encoded)
        assert r.astring() == data and r.at_end()



_HEADER_LINES = st.lists(st.one_of(
    st.sampled_from([b"From: a <a@x>", b"to : b@x", b"SUBJECT:  hi", b"Date: now", b"Message-ID: <m@x>",
                     b"X-Other: o", b" folded", b"\tfolded", b"no colon here", b"", b"From", b"Fr\xc3\xb6m: x",
                     b"To-Do: t", b"X:From: y"]),
    st.binary(max_size=12)), max_size=12)
_NAMES = st.lists(st.sampled_from(["FROM", "to", "Subject", "DATE", "message-id", "x-other", "a b",
                                   "fr\xf6m", "to-do", ""]), max_size=5)


@given(lines=_HEADER_LINES, ends=st.lists(st.sampled_from([b"\r\n", b"\n", b"\r", b""]), min_size=12, max_size=12),
       plain=st.booleans(), names=_NAMES, exclude=st.booleans(), blank=st.booleans())
def test_filter_header_matches_the_line_walk(lines, ends, plain, names, exclude, blank):
    """The expression fast path of HEADER.FIELDS[.NOT] answers exactly what the line walk
    does, for any header block (folded, bare CR/LF, missing line ends, odd names).
    ``plain`` blocks (CRLF or LF line ends only) are the ones the fast path takes."""
    if plain:
        ends = [b"\n" if end == b"\n" else b"\r\n" for end in ends]
        lines = [line.replace(b"\r", b"").replace(b"\n", b"") for line in lines]
    raw = b"".join(line + end for line, end in zip(lines, ends)) + (b"\r\nBody: no\r\n" if blank else b"")
    names = tuple(names)
    assert sections.filter_header(raw, names, exclude) == sections.filter_header_lines(raw, names, exclude)
