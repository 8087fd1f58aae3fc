"""Property tests of the pure POP3 codecs."""

from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.protocols.pop3.codec import (
    CommandError,
    DotStuffer,
    TopFilter,
    parse_command,
    parse_number,
    stuff_message,
    uidl_of,
    unstuff,
)

# Message-like text: lots of line ends, dots and CRs in odd places.
text = st.lists(st.sampled_from([b"a", b"b.", b".", b"..", b"\r\n", b"\n", b"\r", b" ", b"x" * 5]),
                max_size=60).map(b"".join)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


def _stuff(chunks) -> bytes:
    s = DotStuffer()
    return b"".join(s.feed(c) for c in chunks) + s.finish()


def _crlf(data: bytes) -> bytes:
    """What a reader of the multi-line body gets: every line ending as CRLF."""
    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if data and not data.endswith(b"\n"):
        data += b"\n"
    return data.replace(b"\n", b"\r\n")


@settings(max_examples=300)
@given(data=text, cuts=st.lists(st.integers(0, 1000), max_size=6))
def test_dot_stuffing_chunked_equals_whole_and_round_trips(data, cuts):
    whole = _stuff([data])
    assert _stuff(_chunks(data, cuts)) == whole
    assert unstuff(whole) == _crlf(data)
    # No line of the body is a lone "." before the terminator, and only CRLF line ends.
    body = whole[:-3]
    assert b"\r\n.\r\n" not in b"\r\n" + body
    assert body.replace(b"\r\n", b"").count(b"\r") == 0
    assert body.replace(b"\r\n", b"").count(b"\n") == 0


def test_dot_stuffing_examples():
    assert _stuff([b".hidden\r\nnormal\r\n..two\r\n"]) == b"..hidden\r\nnormal\r\n...two\r\n.\r\n"
    assert _stuff([b"no newline"]) == b"no newline\r\n.\r\n"
    assert _stuff([b"bare\nlf\n"]) == b"bare\r\nlf\r\n.\r\n"
    assert _stuff([b""]) == b".\r\n"


headers = st.lists(st.sampled_from([b"A: 1", b"B: two", b" folded", b"C:"]), max_size=5)
lines = st.lists(st.sampled_from([b"", b"x", b".", b"body line"]), max_size=10)


@settings(max_examples=300)
@given(head=headers, body=lines, n=st.integers(0, 12), crlf=st.booleans(),
       cuts=st.lists(st.integers(0, 1000), max_size=6))
def test_top_filter_header_plus_n_lines(head, body, n, crlf, cuts):
    eol = b"\r\n" if crlf else b"\n"
    message = b"".join(h + eol for h in head) + eol + b"".join(l + eol for l in body)
    top = TopFilter(n)
    out = b""
    for chunk in _chunks(message, cuts):
        out += top.feed(chunk)
        if top.done:
            break
    expected = b"".join(h + eol for h in head) + eol + b"".join(l + eol for l in body[:n])
    assert out == expected


@given(st.binary(max_size=300))
def test_parse_command_never_raises_anything_else(line):
    try:
        command = parse_command(line)
    except CommandError:
        return
    assert command.verb.isalpha() and command.verb.isupper() and 1 <= len(command.verb) <= 4


def test_parse_command_examples():
    c = parse_command(b"pass my secret  words")
    assert c.verb == "PASS" and c.rest == "my secret  words" and c.args == ("my", "secret", "words")
    assert parse_command(b"TOP 1 10").args == ("1", "10")
    for bad in (b"", b" STAT", b"ST4T", b"RETRX 1", b"\x00STAT"):
        with pytest.raises(CommandError):
            parse_command(bad)


@given(st.text(max_size=12))
def test_parse_number(value):
    try:
        n = parse_number(value, 50)
    except CommandError:
        assert not (value.isascii() and value.isdigit() and 1 <= int(value) <= 50 and len(value) <= 10)
        return
    assert 1 <= n <= 50 and str(n) == value.lstrip("0")


@given(st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1))
def test_uidl_is_printable_and_short(uidvalidity, uid):
    uidl = uidl_of(uidvalidity, uid)
    assert 1 <= len(uidl) <= 70 and all(0x21 <= ord(c) <= 0x7E for c in uidl)




@given(text)
@settings(max_examples=500)
def test_stuff_message_equals_dot_stuffer(data):
    assert stuff_message(data) == _stuff([data])


def test_stuff_message_examples():
    assert stuff_message(b"") == b".\r\n"
    assert stuff_message(b".a\r\n.\r\nb") == b"..a\r\n..\r\nb\r\n.\r\n"
    assert stuff_message(b"a\nb\r\n") == b"a\r\nb\r\n.\r\n"
