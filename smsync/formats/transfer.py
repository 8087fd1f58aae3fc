"""MIME Content-Transfer-Encodings (RFC 2045 section 6): decoding quoted-printable as the
RFC says receivers must, and re-encoding the parts of a message that hold NUL octets
(which an IMAP literal cannot carry, RFC 3516 section 4.4) as base64.

Pure functions over bytes.
"""

from __future__ import annotations

import base64
import re
from typing import Optional

from smsync.formats.message import parse_message

_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_LINE = re.compile(rb"([^\r\n]*)(\r\n|\n|\r(?!\n)|$)")
_WHITESPACE = b" \t"
#: Transfer encodings that leave the octets as they are: their NULs are the content's.
_IDENTITY = frozenset({"7bit", "8bit", "binary"})
_CTE_FIELD = re.compile(rb"(?im)^content-transfer-encoding[ \t]*:.*(?:\r?\n[ \t].*)*\r?\n")


def _unescape(m: re.Match) -> bytes:
    return bytes((int(m.group(1), 16),))


def decode_quoted_printable(data: bytes) -> bytes:
    """Undo quoted-printable (RFC 2045 6.7): trailing white space of every line deleted
    (rule 3: it "will necessarily have been added by intermediate transport agents"), an
    ``=`` ending a line -- even before such padding -- a soft line break, ``=XX`` the
    octet XX (lower-case hex accepted). An ``=`` not followed by two hex digits is kept
    as it is, as the RFC suggests of a robust decoder. Hard line breaks come out as CRLF
    (RFC 3516 section 6: text goes out with CRLF line ends whatever is stored)."""
    out = []
    for text, end in _LINE.findall(data):
        if not text and not end:
            continue
        text = text.rstrip(_WHITESPACE)
        if text.endswith(b"="):
            # A soft line break (also on the body's last line, whose CRLF belongs to
            # what follows the part).
            out.append(_QP_ESCAPE.sub(_unescape, text[:-1]))
            continue
        out.append(_QP_ESCAPE.sub(_unescape, text))
        if end:
            out.append(b"\r\n")
    return b"".join(out)


def _base64_lines(data: bytes) -> bytes:
    # RFC 2045 6.8: encoded lines are no more than 76 characters long.
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def encode_nul_parts(data: bytes) -> Optional[bytes]:
    """``data`` with every leaf part whose content holds a NUL octet re-encoded as base64
    (its Content-Transfer-Encoding field replaced or added); ``data`` itself when it has
    no NUL. None when a NUL is somewhere this cannot move it from: a header, a multipart's
    preamble or boundary lines, or a part already labelled base64 or quoted-printable."""
    if b"\x00" not in data:
        return data
    edits = []
    for part in parse_message(data).root.walk():
        if part.children or part.message is not None:
            continue
        body = data[part.header_end : part.body_end]
        if b"\x00" not in body:
            continue
        if (part.encoding or "7bit").lower() not in _IDENTITY:
            return None
        header = data[part.header_start : part.header_end]
        field = b"Content-Transfer-Encoding: base64\r\n"
        if _CTE_FIELD.search(header):
            header = _CTE_FIELD.sub(field, header, count=1)
        else:
            # Before the blank line that ends the header block.
            blank = b"\r\n" if header.endswith(b"\r\n") else b"\n"
            header = header[: len(header) - len(blank)] + field + blank
        edits.append((part.header_start, part.body_end, header + _base64_lines(body).rstrip(b"\r\n")))
    out = []
    pos = 0
    for start, end, replacement in sorted(edits):
        out += [data[pos:start], replacement]
        pos = end
    out.append(data[pos:])
    result = b"".join(out)
    return None if b"\x00" in result else result
