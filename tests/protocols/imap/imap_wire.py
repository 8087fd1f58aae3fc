"""Whole IMAP exchanges over a raw socket (``imap_harness.RawClient``), literals and all,
for the extensions no library client speaks: OBJECTID, SAVEDATE, PREVIEW, REPLACE and
CATENATE. Commands carry their literals as LITERAL+ (``{n+}``), so each is one send."""

from __future__ import annotations

import re

from imap_harness import PASSWORD, USER

_LITERAL_AT_END = re.compile(rb"(~?)\{(\d+)\}$")


def lit(data: bytes) -> bytes:
    """``data`` as a non-synchronizing literal (LITERAL+)."""
    return b"{%d+}\r\n" % len(data) + data


def login(raw, user: str = USER) -> None:
    answer = send(raw, b"L", b"LOGIN " + user.encode() + b' "' + PASSWORD.encode() + b'"')
    assert b"L OK" in answer, answer


def response(raw, tag: bytes) -> bytes:
    """Everything the server sends up to and including the tagged line, each literal
    read by its announced length (so CRLFs inside stay as sent)."""
    out = []
    while True:
        line = raw.line()
        out.append(line + b"\r\n")
        m = _LITERAL_AT_END.search(line)
        if m:
            size = int(m.group(2))
            while len(raw.buf) < size:
                chunk = raw.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                raw.buf += chunk
            out.append(raw.buf[:size])
            raw.buf = raw.buf[size:]
            continue
        if line.startswith(tag + b" "):
            return b"".join(out)


def send(raw, tag: bytes, text: bytes) -> bytes:
    """Send ``tag text`` and return the whole response (see ``response``)."""
    raw.send(tag + b" " + text + b"\r\n")
    return response(raw, tag)


def tagged(answer: bytes, tag: bytes) -> bytes:
    """The tagged line of a response."""
    for line in answer.split(b"\r\n"):
        if line.startswith(tag + b" "):
            return line
    raise AssertionError(answer)


def fetch_items(answer: bytes, item: bytes) -> dict[int, bytes]:
    """Message sequence number -> the value of ``item`` (a parenthesised objectid, an
    atom, a quoted string or a date) in each untagged FETCH of ``answer``."""
    out = {}
    pattern = rb"\* (\d+) FETCH \(.*?\b" + re.escape(item) + rb' (\([^)]*\)|"(?:[^"\\]|\\.)*"|[^ )]+)'
    for m in re.finditer(pattern, answer):
        out[int(m.group(1))] = m.group(2)
    return out
