"""Pure SMTP/LMTP codecs: envelope paths and parameters, DATA decoding, trace headers.

No I/O here; each function is property-tested (``tests/protocols/delivery``).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Optional

import attrs

#: RFC 5321 4.5.3.1: a path is at most 256 octets.
MAX_PATH = 256


class EnvelopeError(ValueError):
    """A MAIL/RCPT argument that does not parse; ``code`` and ``enhanced`` are the reply."""

    def __init__(self, text: str, code: int = 501, enhanced: str = "5.5.4"):
        super().__init__(text)
        self.code = code
        self.enhanced = enhanced


@attrs.frozen
class Path:
    """An envelope address: ``address`` is '' for the null reverse-path ``<>``."""

    address: str
    params: dict = attrs.field(factory=dict, hash=False)


# A Mailbox (RFC 5321 4.1.2), lenient in the local part (dot-atom or quoted string, as
# sent) and in the domain (name or address literal); UTF-8 allowed (SMTPUTF8 clients).
_MAILBOX = re.compile(
    r'^(?P<local>(?:"(?:[^"\\\r\n]|\\.)*"|[^\s"<>()\[\]\\,;:@]+))@'
    r'(?P<domain>\[[^\]\s]+\]|[^\s@<>()\[\]\\,;:"]+)$'
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PARAM = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\x21-\x3c\x3e-\x7e]*))?$")


def parse_path(text: str, keyword: str, allow_null: bool) -> Path:
    """Parse the argument of ``MAIL FROM:`` / ``RCPT TO:`` (``keyword`` is ``FROM`` or ``TO``).

    Returns:
        A ``Path``; parameter names upper-cased, values as given (None without ``=``).

    Raises:
        EnvelopeError: wrong keyword, no angle brackets, bad address or parameter.
    """
    head, sep, rest = text.partition(":")
    if not sep or head.strip().upper() != keyword:
        raise EnvelopeError(f"syntax: {'MAIL FROM' if keyword == 'FROM' else 'RCPT TO'}:<address>")
    rest = rest.strip()
    if not rest.startswith("<"):
        raise EnvelopeError("address must be in angle brackets", 501, "5.1.7" if keyword == "FROM" else "5.1.3")
    end = rest.find(">")
    if end < 0:
        raise EnvelopeError("unterminated address", 501, "5.1.7" if keyword == "FROM" else "5.1.3")
    inner, params_text = rest[1:end], rest[end + 1:]
    if params_text and not params_text.startswith(" "):
        raise EnvelopeError("syntax error after the address")
    if len(inner) > MAX_PATH:
        raise EnvelopeError("address too long", 501, "5.1.3")
    # A source route (<@a,@b:user@c>) is obsolete; RFC 5321 says to ignore it.
    if inner.startswith("@") and ":" in inner:
        inner = inner.split(":", 1)[1]
    if inner == "":
        if not allow_null:
            raise EnvelopeError("empty address", 501, "5.1.3")
        address = ""
    else:
        if not _MAILBOX.match(inner) or _CONTROL.search(inner):
            raise EnvelopeError("bad address", 501, "5.1.7" if keyword == "FROM" else "5.1.3")
        address = inner
    params = {}
    for word in params_text.split():
        m = _PARAM.match(word)
        if not m:
            raise EnvelopeError(f"bad parameter {word[:40]!r}", 501, "5.5.4")
        params[m.group(1).upper()] = m.group(2)
    return Path(address, params)


def split_address(address: str) -> tuple[str, str]:
    """``(local, domain)`` with the domain lower-cased (domains are case-insensitive)."""
    local, _, domain = address.rpartition("@")
    return local, domain.lower()


def account_of(address: str, separator: str = "+") -> str:
    """The account an address delivers to: ``user+tag@Domain`` -> ``user@domain``
    (plus-addressing), lower-cased as account names are. A quoted local part is
    unquoted first."""
    local, domain = split_address(address)
    if local.startswith('"') and local.endswith('"') and len(local) >= 2:
        local = re.sub(r"\\(.)", r"\1", local[1:-1])
    if separator and separator in local:
        base = local.split(separator, 1)[0]
        if base:
            local = base
    return f"{local}@{domain}".lower()


def size_param(path: Path) -> Optional[int]:
    """The ``SIZE=`` parameter of a MAIL FROM as an int, None if absent.

    Raises:
        EnvelopeError: present but not a decimal number.
    """
    value = path.params.get("SIZE")
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise EnvelopeError("bad SIZE parameter", 501, "5.5.4")
    return int(value)


class DataDecoder:
    """Decodes the text after ``DATA``: finds the ``CRLF.CRLF`` terminator and removes
    the dot that starts any line (RFC 5321 4.5.2), chunk by chunk. ``feed`` returns
    ``(text, rest)``: the decoded text available so far and, once the terminator is
    seen, the bytes that followed it (else None). Feeding in any chunking gives the same
    text as feeding everything at once; memory held is bounded (a long line is passed
    on in pieces)."""

    #: Longest undecided tail kept between feeds.
    HOLD = 64 * 1024

    def __init__(self):
        # The text starts at the beginning of a line: a virtual CRLF makes a first line
        # of "." the terminator and a first line of ".x" stuffed; stripped on output.
        self._buf = b"\r\n"
        self._strip = 2
        self.done = False

    def _out(self, text: bytes) -> bytes:
        if self._strip:
            cut = min(self._strip, len(text))
            text = text[cut:]
            self._strip -= cut
        return text

    def feed(self, data: bytes) -> tuple[bytes, Optional[bytes]]:
        if self.done:
            return b"", data
        buf = self._buf + data
        end = buf.find(b"\r\n.\r\n")
        if end >= 0:
            self.done = True
            self._buf = b""
            return self._out(buf[:end + 2].replace(b"\r\n.", b"\r\n")), buf[end + 5:]
        cut = buf.rfind(b"\r\n")
        if cut < 0 or len(buf) - cut > self.HOLD:
            # Inside a long line: pass most of it on, keeping a tail that cannot be
            # part of a line end (so no CRLF or CRLF. is split between two feeds).
            cut = max(len(buf) - 4, 0)
            while cut > 0 and buf[cut - 1] in (0x0D, 0x0A):
                cut -= 1
        self._buf = buf[cut:]
        return self._out(buf[:cut].replace(b"\r\n.", b"\r\n")), None


def received_header(*, helo: str, peer: str, by: str, protocol: str, queue_id: str,
                    recipient: Optional[str], tls: Optional[str] = None,
                    authenticated: Optional[str] = None,
                    when: Optional[datetime] = None) -> bytes:
    """A ``Received:`` trace field (RFC 5321 4.4), folded, ending in CRLF."""
    date = format_datetime(when) if when is not None else _date_now()
    helo = _clean(helo) or "unknown"
    lines = [f"Received: from {helo} ([{_clean(peer)}])",
             f"\tby {_clean(by)} (smsync) with {protocol} id {queue_id}"]
    if tls:
        lines[-1] += f" ({_clean(tls)})"
    if authenticated:
        lines.append(f"\t(authenticated as {_clean(authenticated)})")
    if recipient:
        lines.append(f"\tfor <{_clean(recipient)}>")
    lines[-1] += f"; {date}"
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def return_path_header(sender: str) -> bytes:
    """The ``Return-Path:`` field final delivery adds (RFC 5321 4.4)."""
    return f"Return-Path: <{_clean(sender)}>\r\n".encode("utf-8")


def _clean(text: str) -> str:
    # Whatever a client sent must not be able to start a header line of its own.
    return _CONTROL.sub("?", text) if text else ""


#: ``(second, its RFC 5322 date)``: formatting a date costs more than the rest of a
#: Received field, and a busy listener stamps many messages within one second.
_date_cache: tuple[int, str] = (-1, "")


def _date_now() -> str:
    global _date_cache
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, format_datetime(datetime.fromtimestamp(second, timezone.utc)))
    return _date_cache[1]
