"""The lexical layer of IMAP commands: a cursor over one command's bytes.

Strings, literals, atoms, flags, sequence sets and dates as RFC 3501/9051 spell them.
Every failure is a ``ParseError`` carrying the command's tag.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Optional

from smsync.protocols.imap.syntax import LiteralMarker, SeqSet

# RFC 3501 atom-specials: ( ) { SP CTL % * " \ ]
ATOM_SPECIALS = frozenset(b'(){ %*"\\]')
_LITERAL_AT_END = re.compile(rb"(~?)\{(\d{1,20})(\+?)\}$")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


class ParseError(Exception):
    """A command that does not follow the grammar. ``tag`` is its tag when one was read
    (the answer is then a tagged BAD, else an untagged one)."""

    def __init__(self, message: str, tag: Optional[str] = None):
        super().__init__(message)
        self.tag = tag


def literal_at_end(line: bytes) -> Optional[LiteralMarker]:
    """The literal a line (without its CRLF) announces at its end, or None."""
    m = _LITERAL_AT_END.search(line)
    if not m:
        return None
    return LiteralMarker(int(m.group(2)), bool(m.group(3)), bool(m.group(1)))


def peek_tag_and_name(line: bytes) -> tuple[Optional[str], Optional[str], bool]:
    """Best-effort (tag, COMMAND, uid) from the first line of a command, for decisions the
    framing must take before the whole command is in (e.g. APPENDLIMIT)."""
    parts = line.split(b" ", 3)
    tag = parts[0].decode("ascii", "replace") if parts and parts[0] else None
    name = parts[1].decode("ascii", "replace").upper() if len(parts) > 1 else None
    uid = name == "UID"
    if uid and len(parts) > 2:
        name = parts[2].decode("ascii", "replace").upper()
    return tag, name, uid


# ---------------------------------------------------------------------------------------
# Value types


class Reader:
    """Cursor over one command's bytes with the IMAP lexical rules."""

    def __init__(self, data: bytes, tag: Optional[str] = None):
        self.data = data
        self.pos = 0
        self.tag = tag

    def fail(self, message: str):
        raise ParseError(message, self.tag)

    def peek(self) -> Optional[int]:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def at_literal(self) -> bool:
        """A literal starts here: "{", or "~{" (RFC 3516 literal8). A "~" followed by
        anything else is an ordinary atom character."""
        data, pos = self.data, self.pos
        return data[pos : pos + 1] == b"{" or data[pos : pos + 2] == b"~{"

    def end(self) -> None:
        if not self.at_end():
            self.fail("unexpected characters at end of command")

    def sp(self) -> None:
        if self.peek() != 0x20:
            self.fail("expected a space")
        while self.peek() == 0x20:
            self.pos += 1

    def maybe_sp(self) -> bool:
        if self.peek() == 0x20:
            self.sp()
            return True
        return False

    def char(self, c: bytes) -> None:
        if self.peek() != c[0]:
            self.fail(f"expected {c.decode()!r}")
        self.pos += 1

    def maybe_char(self, c: bytes) -> bool:
        if self.peek() == c[0]:
            self.pos += 1
            return True
        return False

    def _run(self, ok) -> bytes:
        start = self.pos
        data = self.data
        n = len(data)
        while self.pos < n and ok(data[self.pos]):
            self.pos += 1
        return data[start : self.pos]

    def atom(self) -> str:
        """An atom (ASCII, no specials)."""
        out = self._run(lambda b: 0x20 < b < 0x7F and b not in ATOM_SPECIALS)
        if not out:
            self.fail("expected an atom")
        return out.decode("ascii")

    def word(self) -> str:
        """An atom, upper-cased: keywords of the grammar."""
        return self.atom().upper()

    def number(self) -> int:
        out = self._run(lambda b: 0x30 <= b <= 0x39)
        if not out or len(out) > 20:
            self.fail("expected a number")
        return int(out)

    def nz_number(self) -> int:
        n = self.number()
        if n == 0:
            self.fail("expected a non-zero number")
        return n

    def quoted(self) -> bytes:
        self.char(b'"')
        out = bytearray()
        data = self.data
        while True:
            if self.pos >= len(data):
                self.fail("unterminated quoted string")
            b = data[self.pos]
            self.pos += 1
            if b == 0x22:
                return bytes(out)
            if b == 0x5C:
                if self.pos >= len(data) or data[self.pos] not in b'"\\':
                    self.fail("bad escape in quoted string")
                b = data[self.pos]
                self.pos += 1
            elif b in (0x0A, 0x0D, 0x00):
                self.fail("CR, LF or NUL in quoted string")
            out.append(b)

    def literal(self, allow_binary: bool = False) -> tuple[bytes, bool]:
        """A literal; returns (bytes, was_binary)."""
        binary = self.maybe_char(b"~")
        if binary and not allow_binary:
            self.fail("binary literal not allowed here")
        self.char(b"{")
        size = self.number()
        self.maybe_char(b"+")
        self.char(b"}")
        if self.data[self.pos : self.pos + 2] != b"\r\n":
            self.fail("literal must be followed by CRLF")
        self.pos += 2
        if self.pos + size > len(self.data):
            self.fail("literal shorter than announced")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        if not binary and b"\x00" in out:
            self.fail("NUL in literal")
        return out, binary

    def string(self) -> bytes:
        b = self.peek()
        if b == 0x22:
            return self.quoted()
        if self.at_literal():
            return self.literal()[0]
        self.fail("expected a string")

    def astring(self) -> bytes:
        if self.peek() == 0x22 or self.at_literal():
            return self.string()
        # ASTRING-CHAR = ATOM-CHAR / resp-specials; 8-bit allowed (UTF8=ACCEPT).
        out = self._run(lambda b: b > 0x20 and b != 0x7F and (b not in ATOM_SPECIALS or b == 0x5D))
        if not out:
            self.fail("expected an astring")
        return out

    def nstring(self) -> Optional[bytes]:
        if self.data[self.pos : self.pos + 3].upper() == b"NIL" and not self._atom_continues(3):
            self.pos += 3
            return None
        return self.string()

    def _atom_continues(self, k: int) -> bool:
        b = self.data[self.pos + k] if self.pos + k < len(self.data) else None
        return b is not None and 0x20 < b < 0x7F and b not in ATOM_SPECIALS

    def list_mailbox(self) -> bytes:
        if self.peek() == 0x22 or self.at_literal():
            return self.string()
        out = self._run(lambda b: b > 0x20 and b != 0x7F and (b not in ATOM_SPECIALS or b in b"%*]"))
        if not out:
            self.fail("expected a mailbox pattern")
        return out

    def flag(self) -> str:
        if self.maybe_char(b"\\"):
            if self.maybe_char(b"*"):
                return "\\*"
            return "\\" + self.atom()
        return self.atom()

    def flag_list(self) -> tuple[str, ...]:
        self.char(b"(")
        flags = []
        while not self.maybe_char(b")"):
            if flags:
                self.sp()
            flags.append(self.flag())
        return tuple(flags)

    def seq_set(self) -> SeqSet:
        if self.maybe_char(b"$"):
            return SeqSet(saved=True)
        ranges = []
        while True:
            lo = self._seq_number()
            hi = lo
            if self.maybe_char(b":"):
                hi = self._seq_number()
            ranges.append((lo, hi))
            if not self.maybe_char(b","):
                break
        return SeqSet(tuple(ranges))

    def _seq_number(self) -> Optional[int]:
        if self.maybe_char(b"*"):
            return None
        n = self.number()
        if n == 0 or n > 0xFFFFFFFF:
            self.fail("sequence numbers are 1 to 4294967295")
        return n

    def peek_word(self) -> str:
        """The upper-cased atom at the cursor (up to a ``[``), without consuming it."""
        save = self.pos
        try:
            return self._run(lambda b: 0x20 < b < 0x7F and b not in ATOM_SPECIALS and b != 0x5B).decode().upper()
        finally:
            self.pos = save

    def paren_words(self) -> tuple[str, ...]:
        """``(A B C)`` of atoms, upper-cased."""
        self.char(b"(")
        out = []
        while not self.maybe_char(b")"):
            if out:
                self.sp()
            out.append(self.word())
        return tuple(out)

    def date(self) -> datetime:
        """A search date: ``d-Mon-yyyy``, optionally quoted. Returned as a naive date at midnight."""
        quoted = self.maybe_char(b'"')
        text = self._run(lambda b: b in b"0123456789-" or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A)
        if quoted:
            self.char(b'"')
        return parse_date(text, self)

    def date_time(self) -> datetime:
        """``"dd-Mon-yyyy hh:mm:ss +zzzz"``."""
        raw = self.quoted()
        m = re.fullmatch(rb" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", raw)
        if not m:
            self.fail("bad date-time")
        day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
        try:
            month = _MONTHS.index(mon.decode().upper()) + 1
            offset = timedelta(hours=int(zh), minutes=int(zm))
            tz = timezone(offset if sign == b"+" else -offset)
            return datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=tz)
        except ValueError:
            self.fail("bad date-time")


def parse_date(text: bytes, reader: Reader) -> datetime:
    m = re.fullmatch(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4})", text)
    if not m:
        reader.fail("bad date")
    try:
        month = _MONTHS.index(m.group(2).decode().upper()) + 1
        return datetime(int(m.group(3)), month, int(m.group(1)))
    except ValueError:
        reader.fail("bad date")


# ---------------------------------------------------------------------------------------
# Commands
