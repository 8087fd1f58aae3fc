"""Pure POP3 wire codecs: command lines, multi-line responses, TOP (SASL PLAIN is
read by ``smsync.edge.sasl``).

Nothing here touches the network or the store, so every function is property-tested
(``tests/protocols/pop3/test_pop3_codec.py``).
"""

from __future__ import annotations

import re
from typing import Optional

import attrs

#: RFC 2449: a command line is at most 255 octets including CRLF; we are lenient with
#: long AUTH responses (SASL PLAIN of long passwords) but bound the rest.
MAX_LINE = 8192


#: Control characters a command line must not hold (tab is tolerated).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")


class CommandError(ValueError):
    """A command line that is not POP3 (the server answers ``-ERR``)."""


@attrs.frozen
class Command:
    """One parsed command: ``verb`` upper-cased, ``args`` split on single spaces."""

    verb: str
    args: tuple[str, ...] = ()
    #: The raw argument text (for PASS, whose password may contain spaces).
    rest: str = ""


def parse_command(line: bytes) -> Command:
    """Parse one command line (without CRLF).

    Raises:
        CommandError: empty, non-ASCII verb, control characters, or too long.
    """
    if len(line) > MAX_LINE:
        raise CommandError("line too long")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("not UTF-8") from None
    if _CONTROL.search(text):
        raise CommandError("control characters in command")
    verb, _, rest = text.partition(" ")
    if not verb or not verb.isascii() or not verb.isalpha() or len(verb) > 4:
        raise CommandError("unknown command")
    args = tuple(a for a in rest.split(" ") if a) if rest else ()
    return Command(verb.upper(), args, rest)


def parse_number(text: str, highest: Optional[int] = None) -> int:
    """A message number or count argument: decimal digits, no sign.

    Raises:
        CommandError: not a non-negative decimal, or (with ``highest``) not in 1..highest.
    """
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise CommandError(f"not a number: {text[:20]!r}")
    value = int(text)
    if highest is not None and not 1 <= value <= highest:
        raise CommandError("no such message")
    return value


def uidl_of(uidvalidity: int, uid: int) -> str:
    """The unique-id listing of a message: stable across sessions (UIDs are never
    reused within a UIDVALIDITY, and a re-created INBOX gets a new UIDVALIDITY), within
    RFC 1939's 0x21..0x7E, at most 70 characters."""
    return f"{uidvalidity}.{uid}"


class DotStuffer:
    """Turns message text, fed in chunks of any size, into a POP3 multi-line body:
    lines end in CRLF (a bare LF or CR becomes CRLF) and a line starting with ``.`` gets
    another ``.``. ``finish`` adds the terminating ``.CRLF`` (with a CRLF before it if
    the text did not end with one). Feeding chunks gives the same bytes as feeding the
    whole text at once."""

    def __init__(self):
        self._at_line_start = True
        self._pending_cr = False

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        out = bytearray()
        if self._pending_cr:
            # A CR ended the previous chunk: CRLF split across chunks, or a bare CR.
            self._pending_cr = False
            out += b"\r\n"
            self._at_line_start = True
            if data[:1] == b"\n":
                data = data[1:]
                if not data:
                    return bytes(out)
        if data.endswith(b"\r"):
            data = data[:-1]
            self._pending_cr = True
        crlf = data.count(b"\r\n")
        if data.count(b"\n") == crlf and data.count(b"\r") == crlf:
            # Already CRLF throughout (the usual stored message): only stuff dots.
            if self._at_line_start and data[:1] == b".":
                out += b"."
            out += data.replace(b"\r\n.", b"\r\n..")
            if data:
                self._at_line_start = data.endswith(b"\r\n")
            return bytes(out)
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        # Fast path for the usual message: split once and rejoin with CRLF.
        lines = data.split(b"\n")
        if self._at_line_start and lines[0][:1] == b".":
            out += b"."
        out += lines[0]
        for line in lines[1:]:
            out += b"\r\n"
            if line[:1] == b".":
                out += b"."
            out += line
        if len(lines) > 1:
            self._at_line_start = lines[-1] == b""
        elif lines[0]:
            self._at_line_start = False
        return bytes(out)

    def finish(self) -> bytes:
        if self._pending_cr:
            self._pending_cr = False
            self._at_line_start = True
            return b"\r\n.\r\n"
        return b".\r\n" if self._at_line_start else b"\r\n.\r\n"


def stuff_message(text: bytes) -> bytes:
    """The whole multi-line body of ``text`` (a complete message), terminator included:
    the same bytes as ``DotStuffer`` fed ``text`` then finished, in a few C-speed passes
    for the usual CRLF-only message."""
    if text.count(b"\n") == text.count(b"\r\n") == text.count(b"\r"):
        out = text.replace(b"\r\n.", b"\r\n..")
        if out[:1] == b".":
            out = b"." + out
        return out + (b".\r\n" if not out or out.endswith(b"\r\n") else b"\r\n.\r\n")
    stuffer = DotStuffer()
    return stuffer.feed(text) + stuffer.finish()


def unstuff(body: bytes) -> bytes:
    """Inverse of ``DotStuffer`` for tests and clients: the text of a multi-line body
    (terminator included) with CRLF line ends."""
    if not body.endswith(b".\r\n"):
        raise ValueError("no terminator")
    lines = body[:-3].split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((l[1:] if l.startswith(b".") else l) + b"\r\n" for l in lines)


class TopFilter:
    """Passes a message's header, its blank separator line and the first ``lines``
    lines of its body, chunk by chunk; ``done`` turns true once nothing more is needed
    (the caller stops reading the body)."""

    def __init__(self, lines: int):
        self._left = lines
        self._in_header = True
        # Start of the header line in progress (at most 2 bytes: enough to tell a
        # blank line, even one whose CR and LF arrive in different chunks).
        self._partial = b""
        self.done = False

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        out = bytearray()
        i, n = 0, len(data)
        while i < n:
            nl = data.find(b"\n", i)
            if nl < 0:
                out += data[i:]
                if self._in_header:
                    self._partial = (self._partial + data[i:i + 2])[:2]
                return bytes(out)
            line = data[i:nl + 1]
            out += line
            i = nl + 1
            if self._in_header:
                whole = self._partial + line[:3]
                self._partial = b""
                # The header ends at the first empty line (LF or CRLF alone).
                if whole in (b"\n", b"\r\n"):
                    self._in_header = False
                    if self._left <= 0:
                        self.done = True
                        return bytes(out)
                continue
            self._left -= 1
            if self._left <= 0:
                self.done = True
                return bytes(out)
        return bytes(out)
