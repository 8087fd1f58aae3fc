"""Advertised extensions checked against their RFCs' own words: BINARY (RFC 3516),
CONDSTORE (RFC 7162, with ESEARCH's RFC 4731 section 3.2), LIST-EXTENDED (RFC 5258) and
SORT=DISPLAY (RFC 5957).

Each test quotes the text it checks and talks to a real server on 127.0.0.1 through a
raw socket, since no library client speaks literal8, CHILDINFO or ESEARCH MODSEQ.
"""

from __future__ import annotations

import base64
import binascii
import re

import pytest_twisted
from imap_harness import PASSWORD, USER, in_thread

from smsync.model import FlagMode, UIDSet

_LITERAL_AT_END = re.compile(rb"(~?)\{(\d+)\}$")


def _login(raw) -> None:
    assert raw.command(b"L", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')[-1].startswith(b"L OK")


def _response(raw, tag: bytes) -> bytes:
    """Everything the server sends up to and including the tagged line, literals read
    by their announced length (so NULs and CRLFs inside them stay as sent)."""
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


def _send(raw, tag: bytes, text: bytes) -> bytes:
    raw.send(tag + b" " + text + b"\r\n")
    return _response(raw, tag)


def _literal(response: bytes, label: bytes) -> tuple[bool, bytes]:
    """The literal that follows ``label`` in a FETCH response: (was it a literal8, bytes)."""
    at = response.index(label + b" ") + len(label) + 1
    m = re.compile(rb"(~?)\{(\d+)\}\r\n").match(response, at)
    assert m, response[at : at + 40]
    start = m.end()
    return bool(m.group(1)), response[start : start + int(m.group(2))]


def _number(response: bytes, label: bytes) -> int:
    m = re.search(re.escape(label) + rb" (\d+)", response)
    assert m, response
    return int(m.group(1))


# -- BINARY (RFC 3516) -----------------------------------------------------------------

QP_MESSAGE = (
    b"From: a@example.org\r\nSubject: qp\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    # Padding added by a transport after "one", and after the soft-break "=" of "soft=".
    b"line one  \t \r\n"
    b"soft= \t\r\n"
    b"break=\r\n"
    b"x=3Dy\r\n"
)
#: RFC 2045 6.7 rule 3: "when decoding a Quoted-Printable body, any trailing white space
#: on a line must be deleted, as it will necessarily have been added by intermediate
#: transport agents"; its grammar: qp-segment := qp-section *(SPACE / TAB) "=" followed by
#: transport-padding CRLF is a soft line break ("receivers MUST be able to handle padding
#: added by message transports").
QP_DECODED = b"line one\r\nsoftbreakx=y\r\n"


@pytest_twisted.ensureDeferred
async def test_binary_decodes_quoted_printable_as_rfc2045_says(server):
    """RFC 3516 4.2/4.3: BINARY returns the section "after removing any CTE-related
    encoding"; BINARY.SIZE "MUST match the size of the <nstring> or <literal8> that will be
    returned by the corresponding FETCH BINARY request"; "the <partial> arguments refer
    to the DECODED section data"."""
    box = await server.mailbox()
    await box.append(QP_MESSAGE)

    def run():
        raw = server.raw()
        _login(raw)
        _send(raw, b"s", b"SELECT INBOX")
        got = _send(raw, b"f", b"FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.PEEK[1]<5.8>)")
        raw.close()
        return got

    got = await in_thread(run)
    assert _literal(got, b"BINARY[1]")[1] == QP_DECODED
    assert _number(got, b"BINARY.SIZE[1]") == len(QP_DECODED)
    assert _literal(got, b"BINARY[1]<5>")[1] == QP_DECODED[5:13]


BINARY_PART = b"\x00\x01\x02binary\x00data\xff\r\n\x00"
BINARY_MESSAGE = (
    b"From: a@example.org\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    + BINARY_PART
    + b"\r\n--b1--\r\n"
)
_BASE_CTES = {"7BIT", "8BIT", "BASE64", "QUOTED-PRINTABLE"}


@pytest_twisted.ensureDeferred
async def test_binary_append_with_nul_is_fetched_encoded_by_body_and_decoded_by_binary(server):
    """RFC 3516 4.4: "The APPEND command is extended to allow the client to append data
    containing NULs by using the <literal8> syntax. The server MAY modify the CTE of the
    appended data, however any such transformation MUST NOT result in a loss of data."
    Section 6: "the server MUST issue BODYSTRUCTURE responses that describe the message as
    though the binary-encoded sections are encoded in a CTE acceptable to the IMAP4 base
    specification. Furthermore, the results of a FETCH BODY MUST return the message body
    content in the format described by the corresponding FETCH BODYSTRUCTURE response."
    Section 4.3: BINARY is "An <nstring> or <literal8> expressing the content of the
    specified section after removing any CTE-related encoding" (and a <literal> cannot
    hold NUL: RFC 3501 CHAR8 is %x01-ff)."""

    def run():
        raw = server.raw()
        _login(raw)
        raw.send(b"a APPEND INBOX ~{%d+}\r\n" % len(BINARY_MESSAGE) + BINARY_MESSAGE + b"\r\n")
        appended = _response(raw, b"a")
        _send(raw, b"s", b"SELECT INBOX")
        structure = _send(raw, b"b", b"FETCH 1 (BODYSTRUCTURE)")
        body = _send(raw, b"f", b"FETCH 1 (BODY.PEEK[2] BINARY.PEEK[2] BINARY.SIZE[2])")
        raw.close()
        return appended, structure, body

    appended, structure, body = await in_thread(run)
    assert b"a OK" in appended
    m = re.search(rb'\("APPLICATION" "OCTET-STREAM" NIL NIL NIL "([^"]+)" (\d+)', structure)
    assert m, structure
    cte, size = m.group(1).decode().upper(), int(m.group(2))
    assert cte in _BASE_CTES

    was_binary, encoded = _literal(body, b"BODY[2]")
    assert not was_binary and b"\x00" not in encoded
    assert len(encoded) == size
    if cte == "BASE64":
        assert binascii.a2b_base64(encoded) == BINARY_PART
    elif cte == "QUOTED-PRINTABLE":
        assert binascii.a2b_qp(encoded) == BINARY_PART

    was_binary, decoded = _literal(body, b"BINARY[2]")
    assert was_binary and decoded == BINARY_PART
    assert _number(body, b"BINARY.SIZE[2]") == len(BINARY_PART)
