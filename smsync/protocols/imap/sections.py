"""Body sections (RFC 3501 6.4.5, RFC 3516 BINARY) as byte ranges of the stored message.

``locate`` turns a ``Section`` into a range of the message's bytes using the offsets the
store recorded in its ``MessageStructure``, so ``BODY[1.2]<0.1024>`` reads 1024 bytes,
not the whole message. Header filtering and transfer-decoding are pure functions.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import Optional

import attrs

from smsync.formats.transfer import decode_quoted_printable

_FIELD_START = re.compile(rb"([^\s:]+)[ \t]*:")


@attrs.frozen
class Located:
    """Where a section's content is: ``start``/``end`` offsets into the message, and what
    to do with those bytes (``fields``/``exclude`` for HEADER.FIELDS[.NOT]; ``decode``
    with the part's transfer encoding for BINARY). ``missing``: no such part."""

    start: int = 0
    end: int = 0
    fields: tuple[str, ...] = ()
    exclude: bool = False
    encoding: Optional[str] = None
    missing: bool = False
    #: BINARY of a text/* part: line ends go out as CRLF.
    text: bool = False


def locate(structure, section, binary: bool = False) -> Located:
    """The byte range (and post-processing) that ``section`` names in a message."""
    path = section.part if section is not None else ()
    text = section.text if section is not None else None
    try:
        part = structure.part(path) if path else structure.root
    except KeyError:
        return Located(missing=True)
    if text is None:
        if not path:
            return Located(0, structure.size)
        if binary:
            if part.children:
                return Located(missing=True)
            return Located(part.header_end, part.body_end, encoding=(part.encoding or "7bit").lower(),
                           text=_line_oriented(part))
        return Located(part.header_end, part.body_end)
    if text == "MIME":
        return Located(part.header_start, part.header_end)
    if path:
        # HEADER/TEXT of a part are those of the message it carries (message/rfc822).
        if part.message is None:
            return Located(missing=True)
        part = part.message
    if text == "HEADER":
        return Located(part.header_start, part.header_end)
    if text == "TEXT":
        return Located(part.header_end, part.body_end)
    return Located(part.header_start, part.header_end, section.fields, text.endswith(".NOT"))


def filter_header(raw: bytes, names: tuple[str, ...], exclude: bool) -> bytes:
    """The fields of header block ``raw`` whose names are (or, with ``exclude``, are not)
    in ``names``, in their original form, followed by the blank line."""
    # A FETCH of five header fields of 100 messages spent a quarter of its CPU walking
    # lines in Python: one regular expression per field list finds the fields in C. The
    # line walk stays for what the expression does not model (bare CRs, a last line
    # without its line end, names that are not plain ASCII tokens).
    pattern = _fields_pattern(names, exclude)
    if pattern is None or raw[-1:] != b"\n" or raw.count(b"\r") != raw.count(b"\r\n"):
        return filter_header_lines(raw, names, exclude)
    if raw[:1] == b"\n" or raw[:2] == b"\r\n":
        return b"\r\n"
    blank = _BLANK_LINE.search(raw)
    head = raw[: blank.start() + 1] if blank is not None else raw
    return b"".join(pattern.findall(head)) + b"\r\n"


_BLANK_LINE = re.compile(rb"\n\r?\n")
_TOKEN = re.compile(r"[!-9;-~]+")


@functools.lru_cache(maxsize=512)
def _fields_pattern(names: tuple[str, ...], exclude: bool):
    """The expression matching each whole field (folded lines included) that
    ``filter_header`` keeps, or None when ``names`` need the line walk."""
    if not all(_TOKEN.fullmatch(n) for n in names):
        return None
    alternatives = b"|".join(re.escape(n.encode("ascii")) for n in names) or b"(?!)"
    field = rb"[^\n]*\n(?:[ \t][^\n]*\n)*"
    if exclude:
        return re.compile(rb"^(?!(?:" + alternatives + rb")[ \t]*:)[^\s:]+[ \t]*:" + field, re.M | re.I)
    return re.compile(rb"^(?:" + alternatives + rb")[ \t]*:" + field, re.M | re.I)


def filter_header_lines(raw: bytes, names: tuple[str, ...], exclude: bool) -> bytes:
    """``filter_header`` by walking the lines: the definition the fast path is tested
    against, and what it falls back to."""
    wanted = {n.lower() for n in names}
    out = []
    keep = False
    for line in raw.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t"):
            if keep:
                out.append(line)
            continue
        m = _FIELD_START.match(line)
        if m is None:
            keep = False
            continue
        name = m.group(1).decode("ascii", "replace").lower()
        keep = (name in wanted) != exclude
        if keep:
            out.append(line if line.endswith(b"\n") else line + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


class UnknownEncoding(Exception):
    """BINARY asked for a part whose Content-Transfer-Encoding we cannot undo."""


def decode_transfer(data: bytes, encoding: str) -> bytes:
    """Undo a Content-Transfer-Encoding (for BINARY and for SEARCH BODY/TEXT).

    Raises:
        UnknownEncoding: an encoding other than 7bit, 8bit, binary, base64, quoted-printable.
    """
    encoding = (encoding or "7bit").lower()
    if encoding in ("7bit", "8bit", "binary"):
        return data
    if encoding == "base64":
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4] if len(cleaned) % 4 == 1 else cleaned
        try:
            return base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4))
        except (binascii.Error, ValueError):
            return b""
    if encoding == "quoted-printable":
        return decode_quoted_printable(data)
    raise UnknownEncoding(encoding)


def _line_oriented(part) -> bool:
    # Text in UTF-16 or UTF-32 has 0x0A and 0x0D octets that are not line ends.
    charset = (part.param("charset") or "").lower()
    return part.type == "text" and not charset.startswith(("utf-16", "utf-32", "ucs"))


_LINE_END = re.compile(rb"\r\n|\r|\n")


def crlf_lines(data: bytes) -> bytes:
    """``data`` with every line end (CRLF, bare LF, bare CR) written CRLF."""
    return _LINE_END.sub(b"\r\n", data) if b"\n" in data or b"\r" in data else data


def partial(data: bytes, spec: Optional[tuple[int, int]]) -> bytes:
    if spec is None:
        return data
    start, length = spec
    return data[start : start + length]
