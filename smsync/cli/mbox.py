"""mbox reading and writing (mboxrd, reading mboxo too), and mail line-ending helpers.

Pure functions over bytes and line iterators: no store, no reactor.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Iterable, Iterator, Optional

import attrs

_FROM_LINE = re.compile(rb"^From \S*.*\d\d:\d\d(:\d\d)?.*\d{4}\s*$")
_ESCAPED_FROM = re.compile(rb"^>+From ")
_BARE_LF = re.compile(rb"(?<!\r)\n")


@attrs.frozen
class MboxMessage:
    """One message of an mbox: ``body`` in CRLF form, flags from its Status/X-Status
    headers, and the delivery time of its ``From`` line (None if unreadable)."""

    body: bytes
    flags: frozenset[str]
    internal_date: Optional[datetime]


def to_crlf(data: bytes) -> bytes:
    """``data`` with every bare LF made CRLF (RFC 5322 line ends)."""
    return _BARE_LF.sub(b"\r\n", data)


def to_lf(data: bytes) -> bytes:
    """``data`` with CRLF line ends made LF (mbox files are LF text)."""
    return data.replace(b"\r\n", b"\n")


def _from_line_date(line: bytes) -> Optional[datetime]:
    # "From sender@example.org Sat Nov 21 19:42:03 2026": the last five words are the
    # asctime() of delivery, in UTC by convention.
    words = line.split()
    if len(words) < 6:
        return None
    try:
        parsed = time.strptime(b" ".join(words[-5:]).decode("ascii"), "%a %b %d %H:%M:%S %Y")
    except (ValueError, UnicodeDecodeError):
        return None
    return datetime(*parsed[:6], tzinfo=timezone.utc)


_STATUS_FLAGS = {ord("R"): "\\Seen"}
_XSTATUS_FLAGS = {ord("A"): "\\Answered", ord("F"): "\\Flagged", ord("T"): "\\Draft",
                  ord("D"): "\\Deleted"}


def flags_from_headers(header: bytes) -> frozenset[str]:
    """IMAP flags from the Status/X-Status headers mail clients write into mbox files."""
    flags = set()
    for line in header.split(b"\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        table = _STATUS_FLAGS if name == b"status" else _XSTATUS_FLAGS if name == b"x-status" else None
        if table:
            flags.update(table[c] for c in value.strip() if c in table)
    return frozenset(flags)


def _header_of(lines: list[bytes]) -> bytes:
    out = []
    for line in lines:
        if line in (b"\n", b"\r\n"):
            break
        out.append(line)
    return b"".join(out)


def _finish(from_line: bytes, lines: list[bytes]) -> MboxMessage:
    # The blank line before the next "From " belongs to the file format, not the message.
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    unescaped = [line[1:] if _ESCAPED_FROM.match(line) else line for line in lines]
    body = to_crlf(b"".join(unescaped))
    return MboxMessage(body=body, flags=flags_from_headers(_header_of(unescaped)),
                       internal_date=_from_line_date(from_line))


def is_separator(line: bytes, previous_blank: bool) -> bool:
    """Whether ``line`` starts a new message: a ``From `` line after a blank line, or
    one that looks like a real From_ line (has a time and a year) anywhere."""
    if not line.startswith(b"From "):
        return False
    return previous_blank or bool(_FROM_LINE.match(line.rstrip(b"\r\n")))


def iter_mbox(lines: Iterable[bytes]) -> Iterator[MboxMessage]:
    """The messages of an mbox given as an iterable of lines (a binary file object
    works). ``ValueError`` if the data does not start with a ``From `` line."""
    current: Optional[list[bytes]] = None
    from_line = b""
    previous_blank = True
    for line in lines:
        if current is None:
            if not line.strip():
                continue
            if not line.startswith(b"From "):
                raise ValueError("not an mbox file (it does not start with a 'From ' line)")
            current, from_line = [], line
        elif is_separator(line, previous_blank):
            yield _finish(from_line, current)
            current, from_line = [], line
        else:
            current.append(line)
        previous_blank = line in (b"\n", b"\r\n")
    if current is not None:
        yield _finish(from_line, current)


def count_mbox(lines: Iterable[bytes]) -> int:
    """How many messages ``iter_mbox`` will find in the same lines (cheaply)."""
    count = 0
    previous_blank = True
    started = False
    for line in lines:
        if not started:
            if not line.strip():
                continue
            started = True
            count = 1
        elif is_separator(line, previous_blank):
            count += 1
        previous_blank = line in (b"\n", b"\r\n")
    return count


def mbox_entry(body: bytes, sender: str = "MAILER-DAEMON",
               internal_date: Optional[datetime] = None) -> bytes:
    """One mboxrd entry for ``body`` (RFC 5322 bytes): the From_ line, the body with LF
    line ends and ``From `` lines escaped, and the separating blank line."""
    when = (internal_date or datetime.now(timezone.utc)).astimezone(timezone.utc)
    sender = "".join(sender.split()) or "MAILER-DAEMON"
    head = f"From {sender} {when.strftime('%a %b %d %H:%M:%S %Y')}\n".encode("ascii", "replace")
    text = to_lf(body)
    lines = text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    escaped = [b">" + line if _ESCAPED_FROM.match(line) or line.startswith(b"From ") else line
               for line in lines]
    return head + b"\n".join(escaped) + b"\n\n"
