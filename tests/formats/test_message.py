"""parse_message: offsets, ENVELOPE, BODYSTRUCTURE material, leniency, blob round trip."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.formats.message import (
    Address,
    header_fields,
    parse_message,
    structure_from_bytes,
    structure_to_bytes,
)

NESTED = (
    b"From: =?utf-8?q?J=C3=B6rg?= <jorg@example.com>\r\n"
    b"To: a@b.c, Friends: x@y.z, \"Q, R\" <q@r.s>;\r\n"
    b"Cc: (comment only) <@route1,@route2:c@d.e>\r\n"
    b"Subject: Hello\r\n =?iso-8859-1?q?W=F6rld?=\r\n"
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    b"Message-ID: <1@x>\r\nIn-Reply-To: <0@x>\r\nReferences: <a@x> <0@x>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
    b"This is a preamble.\r\n"
    b"--outer\r\n"
    b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
    b"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain\r\ntext\r\n"
    b"--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\nContent-Description: fwd\r\n\r\n"
    b"Subject: inner one\r\nFrom: x@y\r\n"
    b"Content-Type: multipart/mixed; boundary=deep\r\n\r\n"
    b"--deep\r\nContent-Type: text/plain\r\n\r\ndeep text\r\n--deep\r\n"
    b"Content-Type: image/png\r\nContent-ID: <img1>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n--deep--\r\n"
    b"--outer\r\n"
    b"Content-Type: application/pdf; name*0*=utf-8''%E2%82%AC; name*1=\" report.pdf\"\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20report.pdf\r\n"
    b"Content-Language: en, de\r\nContent-Location: http://x/r.pdf\r\n"
    b"Content-Transfer-Encoding: BASE64\r\n\r\nJVBERi0=\r\n"
    b"--outer--\r\nepilogue\r\n"
)


def body(data, part):
    return data[part.body_start : part.body_end]


def test_nested_structure_offsets_and_numbering():
    s = parse_message(NESTED)
    assert s.size == len(NESTED)
    assert NESTED[: s.header_size].endswith(b"multipart/mixed; boundary=\"outer\"\r\n\r\n")
    assert s.root.mime_type == "multipart/mixed"
    assert [c.mime_type for c in s.root.children] == ["multipart/alternative", "message/rfc822", "application/pdf"]
    assert body(NESTED, s.part((1, 1))) == b"plain\r\ntext"
    assert s.part((1, 1)).lines == 2
    assert s.part((1, 1)).param("charset") == "utf-8"
    assert body(NESTED, s.part((1, 2))) == b"<p>html</p>"
    fwd = s.part((2,))
    assert fwd.description == "fwd"
    assert fwd.envelope.subject == "inner one"
    assert fwd.envelope.from_ == (Address(None, None, "x", "y"),)
    # 2.HEADER is the embedded message's header, 2.1 its first part
    assert NESTED[fwd.message.header_start : fwd.message.header_end].startswith(b"Subject: inner one")
    assert body(NESTED, s.part((2, 1))) == b"deep text"
    img = s.part((2, 2))
    assert (img.type, img.subtype, img.id, img.encoding) == ("image", "png", "<img1>", "base64")
    assert body(NESTED, img) == b"iVBORw0K"
    pdf = s.part((3,))
    assert NESTED[pdf.header_start : pdf.header_end].startswith(b"Content-Type: application/pdf")
    assert body(NESTED, pdf) == b"JVBERi0="
    assert pdf.encoding == "base64"
    assert pdf.param("name") == "\u20ac report.pdf"
    assert ("name*0*", "utf-8''%E2%82%AC") in pdf.params_raw
    assert pdf.disposition == "attachment"
    assert pdf.filename == "\u20ac report.pdf"
    assert pdf.language == ("en", "de")
    assert pdf.location == "http://x/r.pdf"
    assert s.has_attachments
    for bad in [(0,), (4,), (1, 3), (3, 1), (1, 1, 1), (2, 3)]:
        with pytest.raises(KeyError):
            s.part(bad)
    assert s.part(()) is s.root


def test_envelope_and_search_fields():
    s = parse_message(NESTED)
    env = s.envelope
    assert env.subject == "Hello =?iso-8859-1?q?W=F6rld?="
    assert s.subject == "Hello W\u00f6rld"
    assert env.from_ == (Address("=?utf-8?q?J=C3=B6rg?=", None, "jorg", "example.com"),)
    assert env.sender == env.from_ and env.reply_to == env.from_
    assert env.to == (
        Address(None, None, "a", "b.c"),
        Address(None, None, "Friends", None),
        Address(None, None, "x", "y.z"),
        Address("Q, R", None, "q", "r.s"),
        Address(None, None, None, None),
    )
    assert env.cc == (Address("comment only", "@route1,@route2", "c", "d.e"),)
    assert env.message_id == "<1@x>" and env.in_reply_to == "<0@x>"
    assert s.references == ("<a@x>", "<0@x>")
    assert s.date == datetime(1994, 2, 7, 21, 52, 25, tzinfo=timezone(timedelta(hours=-8)))
    assert "J\u00f6rg" in s.from_
    assert s.bcc == "" and env.bcc == ()


def test_bare_lf_and_missing_final_boundary():
    data = (
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\none\n--b\n\ntwo\nmore"
    )
    s = parse_message(data)
    assert [body(data, c) for c in s.root.children] == [b"one", b"two\nmore"]
    # a part with no header at all: its header range is just the blank line
    second = s.part((2,))
    assert data[second.header_start : second.header_end] == b"\n"
    assert second.mime_type == "text/plain"


def test_no_separator_and_no_boundary():
    all_header = b"Subject: x\r\nFrom: a@b"
    s = parse_message(all_header)
    assert s.header_size == len(all_header) and s.root.size == 0
    assert s.envelope.subject == "x"
    all_body = b"just some text\r\nwithout header"
    s = parse_message(all_body)
    assert s.header_size == 0 and s.root.size == len(all_body)
    nob = b"Content-Type: multipart/mixed\r\n\r\nbody"
    assert parse_message(nob).root.mime_type == "text/plain"
    nodelim = b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nbody"
    s = parse_message(nodelim)
    assert len(s.root.children) == 1 and body(nodelim, s.part((1,))) == b"body"


def test_single_part_numbering_and_defaults():
    data = b"Subject: hi\r\n\r\nline1\r\nline2\r\n"
    s = parse_message(data)
    assert s.part((1,)) is s.root
    assert s.root.params == (("charset", "us-ascii"),)
    assert s.root.lines == 2 and s.lines == 4
    assert not s.has_attachments
    with pytest.raises(KeyError):
        s.part((2,))


def test_header_fields_helper():
    s = parse_message(NESTED)
    fields = header_fields(NESTED)
    assert ("message-id", "<1@x>") in fields
    pdf = s.part((3,))
    assert header_fields(NESTED, pdf)[0][0] == "content-type"


def test_blob_round_trip_and_100_parts():
    assert structure_from_bytes(structure_to_bytes(parse_message(NESTED))) == parse_message(NESTED)
    many = b"Content-Type: multipart/mixed; boundary=q\r\n\r\n" + b"".join(
        b"--q\r\nContent-Type: text/plain; name=\"f%d.txt\"\r\n\r\npart %d\r\n" % (i, i) for i in range(100)
    ) + b"--q--\r\n"
    s = parse_message(many)
    assert len(s.root.children) == 100
    assert body(many, s.part((57,))) == b"part 56"
    assert structure_from_bytes(structure_to_bytes(s)) == s
    with pytest.raises(ValueError):
        structure_from_bytes(b"[99]")
    with pytest.raises(ValueError):
        structure_from_bytes(b"not json")


# ---------------------------------------------------------------------------------------
# Property tests


def _check_offsets(data, s):
    assert s.size == len(data)
    assert 0 <= s.header_size <= len(data)
    for part in s.parts():
        assert 0 <= part.header_start <= part.header_end <= part.body_end <= len(data)
        assert part.size == part.body_end - part.body_start
        for child in part.children:
            assert part.body_start <= child.header_start and child.body_end <= part.body_end
        if part.message is not None:
            assert part.message.header_start == part.body_start
            assert part.message.body_end == part.body_end


_lines = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=b",
        b"Content-Type: multipart/alternative; boundary=\"c\"",
        b"Content-Type: message/rfc822",
        b"Content-Type: text/plain; charset*=utf-8''%E2%82",
        b"Content-Disposition: attachment; filename*0=a; filename*1*=%ZZ",
        b"From: \"x <y@z>",
        b"To: g: a@b, <@r:c@d>;, ;;,<<>>",
        b"Subject: =?utf-8?b?w7Y?= =?bogus?q?x?=",
        b"Date: Thu, 99 Foo 20000 99:99:99 +9999",
        b"--b",
        b"--b--",
        b"--c",
        b"--c--",
        b"",
        b" folded",
        b"body text \xff\xfe",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_lines, max_size=40), st.sampled_from([b"\r\n", b"\n"]))
def test_mime_like_garbage_never_raises(lines, eol):
    data = eol.join(lines)
    s = parse_message(data)
    _check_offsets(data, s)
    assert structure_from_bytes(structure_to_bytes(s)) == s


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(data):
    s = parse_message(data)
    _check_offsets(data, s)
    assert structure_from_bytes(structure_to_bytes(s)) == s


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=len(NESTED)))
def test_mutated_message_never_raises(junk, at):
    data = NESTED[:at] + junk + NESTED[at:]
    s = parse_message(data)
    _check_offsets(data, s)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["text/plain", "text/html", "application/octet-stream"]), st.binary(max_size=200)),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([b"\r\n", b"\n"]),
)
def test_generated_multipart_bodies_are_found(parts, eol):
    boundary = b"==bnd=="
    bodies = []
    for _, content in parts:
        while boundary in content:  # bodies must not contain the boundary
            content = content.replace(boundary, b"")
        if eol == b"\n" and content.endswith(b"\r"):
            content += b"x"  # else "\r" + "\n--" would be a CRLF delimiter: ambiguous
        bodies.append(content)
    chunks = [b"Content-Type: multipart/mixed; boundary=\"==bnd==\"" + eol + eol]
    for (ctype, _), content in zip(parts, bodies):
        chunks.append(b"--" + boundary + eol + b"Content-Type: " + ctype.encode() + eol + eol + content + eol)
    chunks.append(b"--" + boundary + b"--" + eol)
    data = b"".join(chunks)
    s = parse_message(data)
    assert len(s.root.children) == len(parts)
    for i, ((ctype, _), content) in enumerate(zip(parts, bodies), 1):
        part = s.part((i,))
        assert part.mime_type == ctype
        assert data[part.body_start : part.body_end] == content


_atom = st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,10}", fullmatch=True)
_name = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'), max_size=20)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_name, _atom, st.lists(_atom, min_size=1, max_size=3)), min_size=1, max_size=5))
def test_address_lists_parse_back(addresses):
    header = ", ".join(f'"{name}" <{local}@{".".join(domain)}>' for name, local, domain in addresses)
    s = parse_message(b"To: " + header.encode() + b"\r\n\r\n")
    assert s.envelope.to == tuple(
        Address(name or None, None, local, ".".join(domain)) for name, local, domain in addresses
    )


def test_speed_of_parse_and_load():
    import time

    simple = (
        b"From: a@b.c\r\nTo: d@e.f\r\nSubject: test\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
        + b"Received: from x by y; Mon, 7 Feb 1994 21:52:25 -0800\r\n" * 8
        + b"\r\n"
        + (b"x" * 70 + b"\r\n") * 130
    )
    blob = structure_to_bytes(parse_message(simple))
    t = time.perf_counter()
    for _ in range(200):
        parse_message(simple)
    parse_each = (time.perf_counter() - t) / 200
    t = time.perf_counter()
    for _ in range(2000):
        structure_from_bytes(blob)
    load_each = (time.perf_counter() - t) / 2000
    # ~0.1 ms and ~15 us on a developer machine; bounds leave room for a loaded CI box
    assert parse_each < 0.002 and load_each < 0.0005


def test_digest_is_of_the_bytes_and_kept_by_the_blob():
    """The structure carries a digest of the message's bytes: equal bytes, equal digests
    (a copy of a message has its original's), different bytes, different ones; the
    stored blob keeps it, and a blob written before it was kept loads without one."""
    import json

    from smsync.formats.message import content_digest

    s = parse_message(NESTED)
    assert s.digest == content_digest(NESTED) == parse_message(bytes(NESTED)).digest
    assert parse_message(NESTED + b" ").digest != s.digest
    assert len(s.digest) == 32 and int(s.digest, 16) >= 0
    assert structure_from_bytes(structure_to_bytes(s)).digest == s.digest
    old_blob = json.dumps(json.loads(structure_to_bytes(s))[:16]).encode()
    old = structure_from_bytes(old_blob)
    assert old.digest is None and old.root == s.root and old.references == s.references
