"""Property tests of the pure delivery codecs: DATA decoding, envelope paths,
plus-addressing, trace fields, the spool and the relay back-off."""

from __future__ import annotations

import pytest
import pytest_twisted
from hypothesis import given, settings
from twisted.internet.defer import maybeDeferred
from hypothesis import strategies as st

from smsync.protocols.delivery.envelope import (
    DataDecoder,
    EnvelopeError,
    account_of,
    parse_path,
    received_header,
    return_path_header,
    size_param,
)
from smsync.edge.outbound.queue import Smarthost, classify, retry_delay
from smsync.protocols.delivery.spool import Spool

line = st.lists(st.sampled_from([b"a", b".", b"..", b" ", b"\r", b"\n", b"x" * 7]), max_size=8).map(
    b"".join).filter(lambda l: b"\r\n" not in l and not l.endswith(b"\r"))


def stuff(lines: list[bytes]) -> bytes:
    """What an SMTP client sends for ``lines``: dot-stuffed, then the terminator."""
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines) + b".\r\n"


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    return out + [data[last:]]


@settings(max_examples=400)
@given(lines=st.lists(line, max_size=12), cuts=st.lists(st.integers(0, 2000), max_size=8),
       after=st.binary(max_size=20))
def test_data_decoder_any_chunking(lines, cuts, after):
    wire = stuff(lines) + after
    decoder = DataDecoder()
    text, rest = b"", None
    for chunk in chunks(wire, cuts):
        out, rest_now = decoder.feed(chunk)
        text += out
        if rest_now is not None:
            rest = rest_now + (rest or b"")
            break
    # Bytes fed after the terminator in the same chunk come back as "rest"; the
    # remaining chunks were never fed.
    consumed = len(stuff(lines))
    assert text == b"".join(l + b"\r\n" for l in lines)
    assert rest is not None and wire[consumed:].startswith(rest)


def test_data_decoder_long_line_kept_bounded():
    decoder = DataDecoder()
    total = b""
    for _ in range(50):
        out, rest = decoder.feed(b"z" * 10000)
        total += out
        assert rest is None and len(decoder._buf) <= DataDecoder.HOLD + 10000
    out, rest = decoder.feed(b"\r\n.\r\n")
    assert total + out == b"z" * 500000 + b"\r\n" and rest == b""


def test_data_decoder_empty_message():
    assert DataDecoder().feed(b".\r\nQUIT\r\n") == (b"", b"QUIT\r\n")


@pytest.mark.parametrize("arg, address, params", [
    ("FROM:<a@b.example>", "a@b.example", {}),
    ("from: <a@b.example> SIZE=100 body=8BITMIME", "a@b.example", {"SIZE": "100", "BODY": "8BITMIME"}),
    ("FROM:<>", "", {}),
    ("FROM:<@relay.example:a@b.example>", "a@b.example", {}),
    ('FROM:<"john doe"@b.example>', '"john doe"@b.example', {}),
    ("FROM:<a@[192.0.2.1]>", "a@[192.0.2.1]", {}),
])
def test_parse_path(arg, address, params):
    path = parse_path(arg, "FROM", allow_null=True)
    assert path.address == address and path.params == params


@pytest.mark.parametrize("arg", ["FROM:a@b.c", "TO:<a@b.c>", "FROM:<a@b.c", "FROM:<no-at>",
                                 "FROM:<a@b.c>x", "FROM:<a b@c.d>", "FROM:<a@b.c> =x",
                                 "FROM:<" + "a" * 300 + "@b.c>"])
def test_parse_path_rejects(arg):
    with pytest.raises(EnvelopeError):
        parse_path(arg, "FROM", allow_null=True)


@given(st.text(max_size=80))
def test_parse_path_never_raises_anything_else(arg):
    try:
        path = parse_path(arg, "TO", allow_null=False)
    except EnvelopeError as e:
        assert 500 <= e.code < 600
        return
    assert "@" in path.address and "\r" not in path.address and "\n" not in path.address


@pytest.mark.parametrize("address, account", [
    ("alice@example.org", "alice@example.org"),
    ("Alice+Lists@Example.ORG", "alice@example.org"),
    ("alice+a+b@example.org", "alice@example.org"),
    ("+tag@example.org", "+tag@example.org"),
    ('"alice"@example.org', "alice@example.org"),
])
def test_plus_addressing(address, account):
    assert account_of(address) == account


def test_size_param():
    assert size_param(parse_path("FROM:<a@b.c> SIZE=123", "FROM", True)) == 123
    assert size_param(parse_path("FROM:<a@b.c>", "FROM", True)) is None
    with pytest.raises(EnvelopeError):
        size_param(parse_path("FROM:<a@b.c> SIZE=x1", "FROM", True))


@given(helo=st.text(max_size=30), peer=st.text(max_size=20), rcpt=st.text(max_size=30))
def test_trace_fields_cannot_be_split_by_client_text(helo, peer, rcpt):
    header = received_header(helo=helo, peer=peer, by="mx.example", protocol="LMTP",
                             queue_id="Q1", recipient=rcpt)
    lines = header.split(b"\r\n")
    assert lines[-1] == b"" and lines[0].startswith(b"Received: ")
    # Every further line is a continuation: the client cannot start a header of its own.
    assert all(l[:1] == b"\t" for l in lines[1:-1])
    assert b"\n" not in header.replace(b"\r\n", b"") and b"\r" not in header.replace(b"\r\n", b"")
    rp = return_path_header(rcpt)
    assert rp.count(b"\r\n") == 1 and rp.endswith(b"\r\n")


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("sizes", [[10, 20], [600, 600, 600], [100] * 50])
async def test_spool_memory_then_file(sizes):
    spool = Spool(limit=10**9, memory_max=1000)
    data = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes)]
    for d in data:
        spool.write(d)
    await spool.finish()
    body = spool.body(b"PREFIX")
    whole = b"PREFIX" + b"".join(data)
    if isinstance(body, bytes):
        assert sum(sizes) <= 1000 and body == whole
    else:
        assert sum(sizes) > 1000
        assert body.read(3) + body.read(5) + body.read() == whole
    spool.discard()


@given(data=st.binary(min_size=1, max_size=3000), prefixes=st.lists(
    st.binary(max_size=40), min_size=1, max_size=4), reads=st.lists(
    st.integers(min_value=0, max_value=700), max_size=8))
@settings(max_examples=60, deadline=None)
def test_spooled_readers_are_independent(data, prefixes, reads):
    # Several appends of one spooled message (one per recipient) read it at once,
    # interleaved: each reader gets its own prefix and the whole text. The file work
    # runs inline here, so everything has happened when ``finish`` returns.
    spool = Spool(limit=10**9, memory_max=0, run=maybeDeferred)
    spool.write(data[:len(data) // 2])
    spool.write(data[len(data) // 2:])
    finished = []
    spool.finish().addCallback(finished.append)
    assert finished == [None] and not spool.in_memory
    readers = [spool.body(p) for p in prefixes]
    got = [b""] * len(readers)
    for step, size in enumerate(reads):
        i = step % len(readers)
        got[i] += readers[i].read(size)
    for i, reader in enumerate(readers):
        got[i] += reader.read()
        assert got[i] == prefixes[i] + data
        assert reader.read() == b"" and reader.read(10) == b""
    spool.discard()


def test_spool_overflow():
    spool = Spool(limit=10)
    spool.write(b"12345")
    spool.write(b"123456")
    assert spool.overflow and spool.body() == b""


def test_retry_delay_doubles_up_to_max():
    assert [retry_delay(n, 60, 1000) for n in range(1, 7)] == [60, 120, 240, 480, 960, 1000]
    assert retry_delay(10**6, 1, 5) == 5


def test_classify_smarthost_answers():
    rcpts = ["a@x", "b@x", "c@x", "d@x"]
    results = [(b"a@x", 250, b"ok"), (b"b@x", 550, b"no such user"), (b"c@x", 451, b"later")]
    delivered, permanent, temporary = classify(rcpts, results, 250)
    assert delivered == ["a@x"] and [a for a, _ in permanent] == ["b@x"]
    assert temporary == ["c@x", "d@x"]
    # The message itself refused temporarily: every accepted recipient is retried.
    assert classify(["a@x"], [(b"a@x", 250, b"ok")], 452)[2] == ["a@x"]
    assert classify(["a@x"], [(b"a@x", 250, b"ok")], 554)[1][0][0] == "a@x"


@pytest.mark.parametrize("text, host, port", [("smtp.example", "smtp.example", 25),
                                              ("smtp.example:587", "smtp.example", 587),
                                              ("[::1]:2525", "::1", 2525)])
def test_smarthost_parse(text, host, port):
    s = Smarthost.parse(text)
    assert (s.host, s.port) == (host, port)
    with pytest.raises(ValueError):
        Smarthost.parse("host:port")
