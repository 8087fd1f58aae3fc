"""IMAP response encoding: strings, flags, dates, ENVELOPE and BODYSTRUCTURE.

Pure functions from values to the bytes RFC 3501/9051 put on the wire. ENVELOPE and
BODYSTRUCTURE are built from the ``MessageStructure`` a store computed when the message
arrived -- never by parsing the message again.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable, Optional

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_QUOTED_MAX = 1024


def literal(data: bytes, binary: bool = False) -> bytes:
    """``{n}CRLF`` followed by the bytes (``~{n}`` for binary content)."""
    return (b"~{%d}\r\n" if binary else b"{%d}\r\n") % len(data) + data


def string(value, utf8: bool = True) -> bytes:
    """A string as a quoted string when it can be one, else as a literal.

    ``value`` is str or bytes. Without ``utf8`` (the client has not enabled UTF-8),
    8-bit content goes out as a literal, which any client reads.
    """
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
    if (
        len(data) > _QUOTED_MAX
        or b"\r" in data
        or b"\n" in data
        or b"\x00" in data
        or (not utf8 and any(b > 0x7F for b in data))
    ):
        return literal(data.replace(b"\x00", b""))
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def nstring(value, utf8: bool = True) -> bytes:
    """``NIL`` for None, else ``string(value)``."""
    return b"NIL" if value is None else string(value, utf8)


def astring(value, utf8: bool = True) -> bytes:
    """An atom when the value is a plain atom, else a string."""
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if data and all(0x20 < b < 0x7F and b not in b'(){ %*"\\]' for b in data) and data.upper() != b"NIL":
        return data
    return string(data, utf8)


def number(n: int) -> bytes:
    return b"%d" % n


def flags(values: Iterable[str]) -> bytes:
    """A parenthesised flag list, system flags first for stable output."""
    ordered = sorted(values, key=lambda f: (not f.startswith("\\"), f.lower()))
    return b"(" + b" ".join(f.encode("utf-8") for f in ordered) + b")"


def internal_date(dt: datetime) -> bytes:
    """``"dd-Mon-yyyy hh:mm:ss +zzzz"`` of an aware (or UTC-naive) datetime."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    off = dt.utcoffset()
    minutes = int(off.total_seconds() // 60) if off else 0
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    text = "%02d-%s-%04d %02d:%02d:%02d %s%02d%02d" % (
        dt.day, _MONTHS[dt.month - 1], dt.year, dt.hour, dt.minute, dt.second,
        sign, minutes // 60, minutes % 60,
    )
    return b'"' + text.encode("ascii") + b'"'


def seq_set(numbers: Iterable[int]) -> bytes:
    """Compact sequence-set text (``1:3,7``) of ascending or unsorted numbers."""
    out: list[list[int]] = []
    for n in sorted(set(numbers)):
        if out and out[-1][1] + 1 == n:
            out[-1][1] = n
        else:
            out.append([n, n])
    return b",".join(b"%d" % lo if lo == hi else b"%d:%d" % (lo, hi) for lo, hi in out)


def seq_set_ordered(numbers: Iterable[int]) -> bytes:
    """Sequence-set text keeping the given order (COPYUID pairs source and destination
    UIDs by position); only ascending runs are compacted."""
    out: list[list[int]] = []
    for n in numbers:
        if out and out[-1][1] + 1 == n:
            out[-1][1] = n
        else:
            out.append([n, n])
    return b",".join(b"%d" % lo if lo == hi else b"%d:%d" % (lo, hi) for lo, hi in out)


# ---------------------------------------------------------------------------------------
# ENVELOPE and BODYSTRUCTURE


def _addresses(addrs, utf8: bool) -> bytes:
    if not addrs:
        return b"NIL"
    parts = []
    for a in addrs:
        parts.append(
            b"(" + b" ".join(
                (nstring(a.name, utf8), nstring(a.adl, utf8), nstring(a.mailbox, utf8), nstring(a.host, utf8))
            ) + b")"
        )
    return b"(" + b"".join(parts) + b")"


def envelope(env, utf8: bool = True) -> bytes:
    """The ENVELOPE of RFC 3501 7.4.2 from a ``formats.message.Envelope``."""
    return b"(" + b" ".join(
        (
            nstring(env.date or None, utf8),
            nstring(env.subject, utf8),
            _addresses(env.from_, utf8),
            _addresses(env.sender, utf8),
            _addresses(env.reply_to, utf8),
            _addresses(env.to, utf8),
            _addresses(env.cc, utf8),
            _addresses(env.bcc, utf8),
            nstring(env.in_reply_to or None, utf8),
            nstring(env.message_id or None, utf8),
        )
    ) + b")"


def _params(params, utf8: bool) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(string(k, utf8) + b" " + string(v, utf8) for k, v in params) + b")"


def _disposition(part, utf8: bool) -> bytes:
    if not part.disposition:
        return b"NIL"
    return b"(" + string(part.disposition, utf8) + b" " + _params(
        part.disposition_params, utf8
    ) + b")"


def _language(lang, utf8: bool) -> bytes:
    if not lang:
        return b"NIL"
    if isinstance(lang, str):
        return string(lang, utf8)
    if len(lang) == 1:
        return string(lang[0], utf8)
    return b"(" + b" ".join(string(x, utf8) for x in lang) + b")"


def body_structure(part, extended: bool = True, utf8: bool = True) -> bytes:
    """BODY (``extended=False``) or BODYSTRUCTURE of a ``formats.message.BodyPart``."""
    if part.children:
        inner = b"".join(body_structure(c, extended, utf8) for c in part.children)
        out = [inner + b" " + string(part.subtype.upper(), utf8)]
        if extended:
            out += [
                _params(part.params, utf8),
                _disposition(part, utf8),
                _language(part.language, utf8),
                nstring(part.location, utf8),
            ]
        return b"(" + b" ".join(out) + b")"
    if part.type == "multipart":
        # A multipart with no parts (no boundary found) is shown as text/plain.
        fields = [b'"TEXT"', b'"PLAIN"']
    else:
        fields = [string(part.type.upper(), utf8), string(part.subtype.upper(), utf8)]
    fields += [
        _params(part.params, utf8),
        nstring(part.id, utf8),
        nstring(part.description, utf8),
        string((part.encoding or "7BIT").upper(), utf8),
        number(part.size),
    ]
    if part.message is not None and part.envelope is not None:
        fields += [
            envelope(part.envelope, utf8),
            body_structure(part.message, extended, utf8),
            number(part.lines or 0),
        ]
    elif part.type == "text":
        fields.append(number(part.lines or 0))
    if extended:
        fields += [
            nstring(part.md5, utf8),
            _disposition(part, utf8),
            _language(part.language, utf8),
            nstring(part.location, utf8),
        ]
    return b"(" + b" ".join(fields) + b")"


def mailbox_list_line(kind: bytes, attrs: Iterable[str], name: bytes, extra: Optional[bytes] = None) -> bytes:
    """``* LIST (\\attrs) "/" name`` (``kind`` is LIST or LSUB)."""
    line = kind + b" (" + " ".join(attrs).encode() + b') "/" ' + name
    if extra:
        line += b" " + extra
    return line
